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

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from hpo.errors import StudyError
from hpo.schedule.spec import SweepSpec
from hpo.study import safe_name
from hpo.sweep import run_sweep
from hpo.sweep_options import SweepOptions, SweepOutcome, validate_options

logger = logging.getLogger(__name__)


class LockHeld(StudyError):
    """Another process runs this study's scheduled sweep; the message names it."""


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
        sampler=spec.sampler,
        pruner=spec.pruner,
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


def lock_path(spec: SweepSpec) -> Path:
    return Path(spec.runs_dir) / f"{safe_name(spec.study)}.lock"


@contextlib.contextmanager
def study_lock(spec: SweepSpec) -> Iterator[None]:
    """Hold the study's lock, or raise :class:`LockHeld` at once naming its holder."""
    path = lock_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 4096, 0).decode(errors="replace").strip()
            raise LockHeld(
                f"study {spec.study!r} is being run by {_describe(holder)}; this run does "
                f"nothing (lock {path})"
            ) from None
        os.ftruncate(descriptor, 0)
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.pwrite(descriptor, json.dumps(me).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _describe(holder: str) -> str:
    try:
        values = json.loads(holder)
        return f"pid {values['pid']} on {values['host']} since {values['started']}"
    except (ValueError, KeyError, TypeError):
        return "another process"


def run_scheduled(spec: SweepSpec) -> tuple[SweepOutcome, str | None]:
    """Top the study up under its lock, then promote by the spec's rule.

    Returns the outcome and the promotion's message (None without a rule).
    """
    options = sweep_options(spec, spec.trials_per_run, spec.time_budget, progress=False)
    with study_lock(spec):
        outcome = run_sweep(options)
        if spec.promote is None:
            return outcome, None
        from hpo.errors import PromotionError
        from hpo.promotion import promote_best_trial

        try:
            promotion = promote_best_trial(
                outcome.study,
                outcome.tracking_uri,
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
