"""``pesweep schedule run`` and ``schedule worker``: a spec's sweep, under a lock keyed by its study.

``schedule run`` tops the study up by ``trials_per_run`` (within ``time_budget``)
and then promotes its best trial if the spec says so. It is safe from cron at
any frequency: an exclusive ``flock`` on ``<runs_dir>/<study>.lock`` keeps two
runs of one study apart, and a second run exits 0 naming the holder. The lock
goes with its process, also one killed with ``kill -9``.

``schedule worker`` is what each Slurm array task runs: one worker on the
study until its time limit's margin (no lock: the array's tasks share the study).
"""

from __future__ import annotations

import logging

from hpo.schedule.spec import SweepSpec
from hpo.sweep.options import SweepOptions, SweepOutcome, validate_options
from hpo.sweep.runner import run_sweep

logger = logging.getLogger(__name__)


def sweep_options(
    spec: SweepSpec,
    n_trials: int | None,
    timeout: float | None,
    progress: bool = True,
    study_trials: int | None = None,
) -> SweepOptions:
    """The :class:`SweepOptions` of a spec (the storage URL with its password, in memory only)."""
    options = SweepOptions(
        study_name=spec.study,
        storage=spec.storage_url(),
        space=spec.space,
        data=spec.data,
        energy_unit=spec.energy_unit,
        n_trials=n_trials,
        timeout=timeout,
        sampler=spec.sampler or None,
        pruner=spec.pruner or None,
        max_epochs=spec.max_epochs,
        seed=spec.seed,
        tracking_uri=spec.tracking_uri or None,
        runs_dir=spec.runs_dir,
        show_progress_bar=progress,
        max_retries=spec.max_retries,
        study_trials=study_trials,
    )
    validate_options(options)
    return options


def run_scheduled(spec: SweepSpec) -> tuple[SweepOutcome, str | None]:
    """Top the study up, then promote by the spec's rule (the caller holds the study's lock).

    Returns the outcome and the promotion's message (None without a rule).
    """
    options = sweep_options(spec, spec.trials_per_run, spec.time_budget, progress=False)
    outcome = run_sweep(options)
    if spec.promote is None:
        return outcome, None
    from hpo.runtime.errors import PromotionError
    from hpo.workflows.promotion import promote_best_trial

    try:
        promotion = promote_best_trial(
            outcome.study,
            outcome.tracking,
            spec.promote.model,
            spec.promote.alias,
            spec.promote.metric,
            spec.promote.require_better,
        )
    except PromotionError as error:  # the rule said no: the sweep itself went well
        return outcome, f"not promoted: {error}"
    return outcome, promotion.message


def run_worker(spec: SweepSpec) -> SweepOutcome:
    """One Slurm array task: trials until the time limit minus the signal margin."""
    options = sweep_options(
        spec,
        None,
        float(spec.slurm.worker_timeout),
        progress=False,
        study_trials=spec.study_trials,
    )
    return run_sweep(options)
