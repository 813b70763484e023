"""What a sweep is asked to do and what it left: options, their checks, the study's count.

Kept apart from :mod:`hpo.sweep.runner` so that the parent of ``--workers K``
(:mod:`hpo.sweep.workers`), which only starts workers and watches the study, imports
neither torch nor Lightning nor MLflow: on two cores that import is seconds of
every worker's start-up time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo.runtime.errors import StudyError
from hpo.study.defaults import SWEEP_DEFAULTS
from hpo.study.registries import CONSTRAINED_SAMPLERS, OBJECTIVES, PRUNERS, SAMPLERS
from hpo.study.retries import Heartbeat
from hpo.study.setup import (
    EXPERIMENT_ATTR,
    PARENT_RUN_ATTR,
    StudySetup,
    connect_storage,
    stored_setup,
)
from hpo.tracking.stores import Store, optuna_storage, tracking_store
from lightning_modules.conventions import normalise_energy_unit

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class SweepOptions:
    """What a user asks of a sweep; ``None`` means: take it from the stored study set-up.

    One frozen value, built alike by the command line, a schedule spec and
    library callers (``dataclasses.replace`` makes a changed copy). Defaults
    are :data:`hpo.study.defaults.SWEEP_DEFAULTS`; what a resume may change is
    :data:`hpo.study.resume.RESUME_POLICY`.
    """

    study_name: str
    storage: str | None = None  # the Optuna storage: None is $PESWEEP_STORAGE, else local SQLite
    space: str | None = None
    data: tuple[str, ...] | None = None
    energy_unit: str | None = None
    n_trials: int | None = None
    timeout: float | None = None
    sampler: str | None = None
    pruner: str | None = None
    max_epochs: int | None = None
    seed: int | None = None
    objectives: tuple[str, ...] | None = None
    tracking_uri: str | None = None
    runs_dir: str = SWEEP_DEFAULTS.runs_dir
    train_overrides: dict[str, Any] = field(default_factory=dict)
    show_progress_bar: bool = True
    trial_progress_bar: bool = False
    pruner_override: optuna.pruners.BasePruner | None = None
    sampler_override: optuna.samplers.BaseSampler | None = None  # replaces --sampler's sampler
    callbacks: tuple[Any, ...] = ()  # Optuna study callbacks, e.g. a budget that calls study.stop()
    init_from: str | None = None  # models:/NAME@ALIAS, runs:/... or a checkpoint path
    artifact_dir: str | None = None  # optuna-dashboard artifacts (default: <runs_dir>/artifacts)
    study_trials: int | None = None  # stop once the study holds this many complete+pruned trials
    max_retries: int = SWEEP_DEFAULTS.max_retries  # of a trial whose worker was preempted or died
    system_metrics: bool = False  # MLflow's CPU, memory and GPU metrics in every trial's run
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    md_spec: str | None = None  # YAML of the MD check behind the md_stable_ps objective
    md_constraint: str | None = None  # YAML of an MD check whose failure makes a trial infeasible


@dataclass
class SweepOutcome:
    """The study after a sweep, its set-up, and where its runs are tracked."""

    study: optuna.Study
    setup: StudySetup
    parent_run_id: str
    tracking: Store
    created: bool
    runs_dir: Path | None = None
    experiment_name: str = ""

    def count(self, state: TrialState) -> int:
        return sum(1 for t in self.study.trials if t.state == state)


def validate_options(options: SweepOptions) -> None:
    """Refuse impossible options before anything is read, created or stored."""
    if not options.study_name or not options.study_name.strip():
        raise StudyError("--study needs a name")
    for name in ("n_trials", "max_epochs", "study_trials"):
        value = getattr(options, name)
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise StudyError(
                f"--{name.replace('_', '-')} must be a positive whole number, got {value}"
            )
    if options.timeout is not None and not options.timeout > 0:
        raise StudyError(f"--timeout must be a positive number of seconds, got {options.timeout}")
    if options.system_metrics:
        check_system_metrics()
    if options.max_retries < 0:
        raise StudyError(f"--max-retries must be 0 or more, got {options.max_retries}")
    if options.seed is not None and options.seed < 0:
        raise StudyError(f"--seed must be 0 or more, got {options.seed}")
    if options.sampler is not None and options.sampler not in SAMPLERS:
        raise StudyError(
            f"unknown sampler {options.sampler!r}; choose one of {', '.join(SAMPLERS)}"
        )
    if options.pruner is not None and options.pruner not in PRUNERS:
        raise StudyError(f"unknown pruner {options.pruner!r}; choose one of {', '.join(PRUNERS)}")
    unknown = [name for name in options.objectives or () if name not in OBJECTIVES]
    if unknown:
        raise StudyError(
            f"unknown objective(s) {', '.join(unknown)}; choose from {', '.join(OBJECTIVES)}"
        )
    requested_md_spec(options)
    if (
        options.md_constraint
        and (options.sampler or SWEEP_DEFAULTS.sampler) not in CONSTRAINED_SAMPLERS
    ):
        raise StudyError(
            f"sampler {options.sampler!r} takes no constraints; with --md-constraint use "
            f"{' or '.join(CONSTRAINED_SAMPLERS)}"
        )
    if options.energy_unit is not None:
        try:
            normalise_energy_unit(options.energy_unit)
        except ValueError as error:
            raise StudyError(str(error)) from error
    check_places(options)
    if options.train_overrides:  # imported here: the training config pulls in Lightning
        from lightning_modules.training.config import make_config

        make_config(dict(options.train_overrides))  # ConfigError names the key


def check_places(options: SweepOptions) -> None:
    """Refuse a runs folder, or a new SQLite store, where nothing can be written (one line)."""
    from hpo.runtime.outputs import check_writable

    if options.runs_dir:
        if Path(options.runs_dir).exists() and not Path(options.runs_dir).is_dir():
            raise StudyError(f"--runs-dir {options.runs_dir} is a file; choose a folder")
        check_writable(options.runs_dir, "--runs-dir")
    for store, what in (
        (optuna_storage(options.storage), "the study storage"),
        (Store(options.tracking_uri) if options.tracking_uri else None, "the MLflow store"),
    ):
        new_file = store.missing_file if store is not None else None
        if new_file is not None:
            check_writable(new_file.parent, f"{what} {store}: its folder")


def requested_md_spec(options: SweepOptions) -> Any:
    """The MD check of ``--md-spec`` / ``--md-constraint`` (one spec for both), or None.

    The files are read and the structure checked here, before anything is made.
    """
    paths = [p for p in (options.md_spec, options.md_constraint) if p]
    wants_objective = "md_stable_ps" in (options.objectives or ())
    if not paths:
        if wants_objective:
            raise StudyError(
                "the md_stable_ps objective needs the MD check to run: give --md-spec SPEC "
                "(structure, temperature, time_ps, ...; see pesweep md-check --help)"
            )
        return None
    from hpo.workflows.md_gate import read_check_structure
    from lightning_modules.md import load_md_spec

    specs = [load_md_spec(path) for path in paths]
    if len(specs) == 2 and specs[0] != specs[1]:
        raise StudyError(
            "--md-spec and --md-constraint name different MD checks; a study runs one check, "
            "give the same file to both (or one of them)"
        )
    read_check_structure(specs[0])
    return specs[0]


def given_fields(options: SweepOptions) -> dict[str, Any]:
    """The set-up fields a resume by name was given (options left out take the study's own).

    Compared with the study's record by :func:`hpo.study.resume.resume_conflicts`.
    """
    given: dict[str, Any] = {}
    if options.energy_unit is not None:
        given["energy_unit"] = normalise_energy_unit(options.energy_unit)
    for name in ("max_epochs", "seed", "objectives"):
        if getattr(options, name) is not None:
            given[name] = getattr(options, name)
    if options.init_from is not None:
        given["init_from"] = options.init_from
    if options.train_overrides:
        given["train_overrides"] = dict(options.train_overrides)
    if options.md_spec or options.md_constraint:
        given["md_spec"] = requested_md_spec(options).to_dict()
        given["md_constraint"] = bool(options.md_constraint)
    return given


def check_system_metrics() -> None:
    """MLflow's system metrics read the machine through psutil: refuse early when it is missing."""
    import importlib.util

    if importlib.util.find_spec("psutil") is None:
        raise StudyError(
            "--system-metrics needs psutil (MLflow reads the machine with it): "
            "pip install -e '.[system-metrics]'"
        )


def stored_outcome(options: SweepOptions) -> SweepOutcome:
    """The study as its workers left it (the summary of ``pesweep sweep --workers K``)."""
    try:
        study = optuna.load_study(
            study_name=options.study_name, storage=connect_storage(options.storage)
        )
    except KeyError as error:
        raise StudyError(
            f"no workers made study {options.study_name!r}; see their errors"
        ) from error
    setup = stored_setup(study)
    if setup is None:
        raise StudyError(f"study {options.study_name!r} has no pesweep set-up")
    return SweepOutcome(
        study,
        setup,
        str(study.user_attrs.get(PARENT_RUN_ATTR, "")),
        tracking_store(options.tracking_uri, setup.tracking_uri),
        False,
        Path(options.runs_dir).resolve() / setup.folder_name(options.study_name),
        str(study.user_attrs.get(EXPERIMENT_ATTR, options.study_name)),
    )


def finished_trials(study: optuna.Study) -> int:
    """How many of the study's trials are complete or pruned (what ``--study-trials`` counts)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED_STATES))
