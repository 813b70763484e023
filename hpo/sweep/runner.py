"""A sweep end to end: open (or resume) the study, track it in MLflow, run trials.

``run_sweep`` is what ``pesweep sweep`` and ``pesweep demo`` call, and each
worker of ``--workers K`` (:mod:`hpo.sweep.workers`) or of a Slurm job array
(:mod:`hpo.schedule`). Workers on other machines run the same command against
one PostgreSQL storage and one MLflow tracking server: Optuna's storage is the
only coordination (no queue of our own).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
from pathlib import Path
from typing import Any

from optuna.artifacts import FileSystemArtifactStore
from optuna.study import MaxTrialsCallback

from hpo.runtime.errors import StudyError
from hpo.runtime.interrupts import Interrupted
from hpo.study.defaults import SWEEP_DEFAULTS
from hpo.study.registries import (
    MULTI_OBJECTIVE_PRUNERS,
    OBJECTIVES,
    build_pruner,
    build_sampler,
)
from hpo.study.resume import resume_conflicts
from hpo.study.retries import StaleTrialHandler
from hpo.study.setup import (
    StudySetup,
    new_study_uid,
    open_study,
    peek_setup,
)
from hpo.sweep.objective import Objective, TrialFailed
from hpo.sweep.options import (
    FINISHED_STATES,
    SweepOptions,
    SweepOutcome,
    finished_trials,
    given_fields,
    requested_md_spec,
    validate_options,
)
from hpo.sweep.parent_run import study_tracker, summarise_parent
from hpo.sweep.sync import sync_study
from hpo.tracking.stores import (
    Store,
    StoreError,
    check_tracking_store,
    optuna_storage,
    tracking_store,
)
from hpo.tracking.training_runs import trial_run_tags
from hpo.workflows.finetune import parent_label
from lightning_modules.conventions import normalise_energy_unit
from lightning_modules.data import load_data
from lightning_modules.data.audit import log_audit
from lightning_modules.file_digest import file_sha256
from lightning_modules.md import MDSpec
from lightning_modules.models.potential import ModelSettings
from lightning_modules.models.registry import model_parameters
from lightning_modules.training.config import TrainConfig, make_config
from lightning_modules.training.prepared import PreparedData
from lightning_modules.training.run import data_settings
from search_spaces.space import SearchSpace, load_space, parse_space

logger = logging.getLogger(__name__)

ARTIFACT_DIR_ATTR = "optuna_artifact_dir"


def _requested_space(options: SweepOptions) -> SearchSpace | None:
    """The space a new study would search, parsed before the data are read (a typo in its
    name is told at once); ``None`` for a resume by name."""
    if options.space is None and options.data is None:
        return None
    if options.space is None or options.data is None:
        raise StudyError("give both --space and --data (or neither, to resume a study by name)")
    return load_space(options.space)


def _requested_setup(
    options: SweepOptions, space: SearchSpace | None, tracking: Store, has_forces: bool
) -> StudySetup | None:
    """The setup a new study would get from the options and their parsed ``space``
    (:func:`_requested_space`); ``None`` for a resume by name.

    ``has_forces``: whether the data hold forces (the default sampler and pruner depend on it).
    """
    if space is None or options.data is None:
        return None
    objectives = options.objectives or SWEEP_DEFAULTS.objectives
    md_spec = requested_md_spec(options)
    setup = StudySetup(
        space_text=space.source_text,
        space_origin=str(options.space),
        data=tuple(str(Path(p).resolve()) for p in options.data),
        data_hashes=tuple(file_sha256(p) for p in options.data),
        energy_unit=normalise_energy_unit(options.energy_unit or SWEEP_DEFAULTS.energy_unit),
        max_epochs=options.max_epochs
        if options.max_epochs is not None
        else SWEEP_DEFAULTS.max_epochs,
        seed=options.seed if options.seed is not None else SWEEP_DEFAULTS.seed,
        sampler=options.sampler or SWEEP_DEFAULTS.sampler_for(has_forces),
        pruner=options.pruner or SWEEP_DEFAULTS.pruner_for(has_forces),
        objectives=tuple(objectives),
        tracking_uri=tracking.masked,  # the real URL (a password) is never stored
        train_overrides=dict(options.train_overrides),
        init_from=options.init_from or "",
        study_uid=new_study_uid(),
        md_spec=md_spec.to_dict() if md_spec is not None else {},
        md_constraint=bool(options.md_constraint),
    )
    return setup


def _loss_weight_note(setup: StudySetup, space: SearchSpace) -> str | None:
    """A warning when the objective ``loss`` ranks trials by their own ``alpha``, which the
    space samples (no ``--loss-alpha``, and no ``ranking_alpha`` fixed in the space)."""
    sampled = {p.name for p in space.parameters if p.distribution is not None}
    if "loss" not in setup.objectives or "alpha" not in sampled:
        return None
    fixed = {p.name for p in space.parameters if p.distribution is None}
    if setup.train_overrides.get("ranking_alpha") is not None or "ranking_alpha" in fixed:
        return None
    return (
        "objective 'loss' is (1 - alpha) L_E + alpha L_F with each trial's own alpha, which the "
        "space samples: the trials are ranked on different weightings, and the search favours "
        "the alpha that makes the loss small rather than the better potential; give "
        "--loss-alpha W to rank every trial at one weight, or fix alpha in the space"
    )


# pruners whose first rung ranks every trial after its second epoch (min_resource 1: Optuna's
# step 1, as a trial reports each epoch at its 0-based index, Lightning's current_epoch)
FIRST_RUNG_PRUNERS = ("successive-halving", "hyperband")
# fewer optimizer steps an epoch than this and a first-rung rank says where a trial starts
# more than how it learns: in the search suite successive halving saved nothing on TiO2 at 2
# steps an epoch and most on CuAu/water at 8 (docs/benchmarks)
FEW_STEPS_PER_EPOCH = 4


def _largest_batch(space: SearchSpace, default: int) -> int:
    """The largest batch size a trial of ``space`` can take (the fewest optimizer steps)."""
    try:
        parameter = space.parameter("batch_size")
    except KeyError:
        return default
    distribution = parameter.distribution
    if distribution is None:
        return int(parameter.value)
    choices = getattr(distribution, "choices", None)
    return int(max(choices) if choices is not None else getattr(distribution, "high", default))


def _first_rung_note(
    pruner: str, space: SearchSpace, prepared: PreparedData, default_batch: int
) -> str | None:
    """A warning when an early-rung pruner ranks trials that take few optimizer steps an epoch."""
    if pruner not in FIRST_RUNG_PRUNERS:
        return None
    structures = len(prepared.split["train"])
    batch = _largest_batch(space, default_batch)
    steps = -(-structures // batch)  # the last batch is kept
    if steps >= FEW_STEPS_PER_EPOCH:
        return None
    return (
        f"pruner {pruner!r} first ranks trials after their second epoch, and a trial takes "
        f"{steps} optimizer step(s) an epoch ({structures} training structures, batch_size up "
        f"to {batch}): the rank says where a trial starts more than how it learns (on the "
        f"search suite's TiO2 it then saved nothing against random search); give a smaller "
        f"batch_size (at most {max(1, structures // FEW_STEPS_PER_EPOCH)}) or --pruner none"
    )


def _md_spec(setup: StudySetup, data: Any) -> MDSpec | None:
    """The study's MD check, its structure's elements checked against the data's."""
    if not setup.md_spec:
        return None
    from ase.data import chemical_symbols

    from hpo.workflows.md_gate import read_structure

    spec = MDSpec.from_dict(setup.md_spec, "the study's MD check")
    structure = read_structure(spec.structure, "the MD check's structure")
    unknown = sorted({int(z) for z in structure.numbers} - {int(z) for z in data.numbers})
    if unknown:
        raise StudyError(
            f"the MD check's structure {spec.structure} holds "
            f"{', '.join(chemical_symbols[z] for z in unknown)}, which the data do not; "
            f"give a structure of the data's elements"
        )
    return spec


def _check_fine_tuning_space(setup: StudySetup, space: Any) -> None:
    """Refuse a fine-tuning sweep whose space samples the architecture (it is the model's).

    Settings that hold no weights (``ModelSettings.WEIGHTLESS``: ``core_repulsion``) may be sampled.
    """
    if not setup.init_from:
        return
    architecture = [
        p.name
        for p in space.parameters
        if any(p.name in model_parameters(m) for m in space.models)
        and p.name not in ModelSettings.WEIGHTLESS
    ]
    if architecture:
        raise StudyError(
            f"with --init-from the architecture is the pretrained model's; the space may not "
            f"sample {', '.join(architecture)} (sample lr, strategy, max_epochs, "
            f"{', '.join(ModelSettings.WEIGHTLESS)}, ...)"
        )


def _init_checkpoint(setup: StudySetup, space: Any, tracking: Store) -> tuple[str, str]:
    """The local checkpoint every trial of a fine-tuning sweep starts from and its model's
    name (the trials' model, whatever the space names); ``("", "")`` for none."""
    if not setup.init_from:
        return "", ""
    from hpo.tracking.model_uris import resolve_checkpoint
    from lightning_modules.training.pretrained import TransferError, load_pretrained

    _check_fine_tuning_space(setup, space)
    checkpoint = str(resolve_checkpoint(setup.init_from, tracking))
    try:
        model_name = str(load_pretrained(checkpoint).hparams["model_name"])
    except TransferError as error:
        raise StudyError(f"--init-from {setup.init_from}: {error}") from error
    return checkpoint, model_name


def base_train_config(setup: StudySetup, runs_dir: Path) -> TrainConfig:
    """Defaults < the study's recorded training overrides < its data, unit, epochs and seed."""
    values = dataclasses.asdict(TrainConfig())
    values.update(setup.train_overrides)
    values.update(
        {
            "data": list(setup.data),
            "energy_unit": setup.energy_unit,
            "max_epochs": setup.max_epochs,
            "seed": setup.seed,
            "output_dir": str(runs_dir),
        }
    )
    return make_config(values)


def run_sweep(options: SweepOptions) -> SweepOutcome:
    """Create or resume the study and run ``n_trials`` (or until ``timeout`` seconds) more trials.

    Everything that can be checked is checked before the study or a run is
    created: the options, the space (before the data are read), the data, and
    that the tracking store answers. SIGINT, SIGTERM and SIGUSR1
    (:mod:`hpo.runtime.interrupts`) end the running trial as FAIL and the
    parent run as KILLED, then propagate; a
    preempted trial, or one whose worker died, is retried from its
    ``last.ckpt`` (:mod:`hpo.study.retries`). A resumed study first writes into
    MLflow what an earlier tracking outage left out (:mod:`hpo.sweep.sync`).
    """
    validate_options(options)
    requested_space = _requested_space(options)
    data = (
        load_data(options.data, options.energy_unit or SWEEP_DEFAULTS.energy_unit)
        if options.data
        else None
    )
    storage = optuna_storage(options.storage)
    stored = peek_setup(options.study_name, storage)
    tracking = tracking_store(options.tracking_uri, stored.tracking_uri if stored else None)
    has_forces = data is not None and bool(data.has_forces.any())
    requested = _requested_setup(options, requested_space, tracking, has_forces)
    if requested is None and stored is not None:  # a resume by name: what it was given must fit
        conflicts = resume_conflicts(stored, given_fields(options))
        if conflicts:
            raise StudyError(
                f"cannot resume study {options.study_name!r}: {'; '.join(conflicts)}; drop "
                f"those options (the study keeps its own) or use a new --study name"
            )
    checked_md_spec = None
    if requested is not None and data is not None:
        # the check's structure fits the data, before a study exists
        checked_md_spec = _md_spec(requested, data)
    try:
        check_tracking_store(tracking)
    except StoreError as error:
        raise StudyError(str(error)) from error
    checked_init = None  # (init_from, (its local checkpoint, its model)), resolved and loaded once
    if requested is not None and requested_space is not None:
        # what a new study's first trial would refuse, refused before the study exists
        build_sampler(
            options.sampler or requested.sampler,
            requested.seed,
            requested_space,
            constrained=requested.md_constraint,
        )
        if requested.init_from:
            checked_init = (
                requested.init_from,
                _init_checkpoint(requested, requested_space, tracking),
            )
    stale_trials = StaleTrialHandler(options.max_retries)
    study, setup, created = open_study(
        options.study_name,
        storage,
        requested,
        heartbeat=options.heartbeat,
        on_stale_trial=stale_trials,
    )
    if data is None:
        missing = [p for p in setup.data if not Path(p).exists()]
        if missing:
            raise StudyError(f"the study's data file {missing[0]} is gone; restore it to resume")
        if tuple(file_sha256(p) for p in setup.data) != setup.data_hashes:
            raise StudyError(
                f"the study's data files changed since it was created ({', '.join(setup.data)}); "
                f"start a new study for new data"
            )
        data = load_data(setup.data, setup.energy_unit)
    runs_dir = Path(options.runs_dir).resolve() / setup.folder_name(options.study_name)
    # a study opened (resumed or joined) rather than created runs its stored check
    md_spec = checked_md_spec if created and checked_md_spec else _md_spec(setup, data)
    base_config = base_train_config(setup, runs_dir)
    prepared = PreparedData.prepare(data, data_settings(base_config))  # once, for every trial
    log_audit(logger, prepared.audit)
    space = (  # parsed once per sweep: the file just read, or the study's stored text
        requested_space
        if requested_space is not None and requested_space.source_text == setup.space_text
        else parse_space(setup.space_text, setup.space_origin)
    )
    note = _loss_weight_note(setup, space)
    if note:
        logger.warning(note)
    tracker, parent_run_id = study_tracker(study, setup, space, tracking, created)
    stale_trials.tracker = tracker  # a dead worker's run is ended FAILED ("worker lost")
    if not created:  # what an earlier tracking outage left out
        synced = sync_study(study, tracker, parent_run_id, setup, thorough=False)
        if synced.changed:
            logger.info("MLflow caught up with the study: %s", synced.describe())
    status = "FAILED"
    try:
        init_checkpoint, pretrained_model = (
            checked_init[1]
            if checked_init is not None and checked_init[0] == setup.init_from
            else _init_checkpoint(setup, space, tracking)
        )
        sampler_name = options.sampler or setup.sampler
        pruner_name = options.pruner or setup.pruner
        study.sampler = options.sampler_override or build_sampler(
            sampler_name, setup.seed, space, constrained=setup.md_constraint
        )
        multi_objective = len(setup.objectives) > 1
        if multi_objective and pruner_name not in MULTI_OBJECTIVE_PRUNERS:
            logger.info(
                "multi-objective study: pruner %r needs Optuna's reports, which take one "
                "objective; pruning is off (--pruner estimate works here)",
                pruner_name,
            )
            pruner_name = "none"
        # Optuna takes intermediate values of one objective, and they are validation MAEs
        objective_kind = OBJECTIVES[setup.objectives[0]]
        report_epochs = not multi_objective and objective_kind.per_epoch
        study.pruner = options.pruner_override or build_pruner(pruner_name, setup.max_epochs)
        note = _first_rung_note(pruner_name, space, prepared, base_config.batch_size)
        if note and options.pruner_override is None:
            logger.warning(note)
        artifact_dir = Path(
            options.artifact_dir
            or study.user_attrs.get(ARTIFACT_DIR_ATTR)
            or Path(options.runs_dir).resolve() / "artifacts"
        )
        artifact_dir.mkdir(parents=True, exist_ok=True)
        if study.user_attrs.get(ARTIFACT_DIR_ATTR) != str(artifact_dir):
            study.set_user_attr(ARTIFACT_DIR_ATTR, str(artifact_dir))
        logger.info(
            "trial checkpoints go to %s; MLflow experiment %r", runs_dir, tracker.experiment_name
        )
        objective = Objective(
            space=space,
            data=prepared,
            base_config=dataclasses.replace(
                base_config,
                init_from=init_checkpoint,
                init_from_label=parent_label(setup.init_from, tracking) if setup.init_from else "",
                model=pretrained_model or base_config.model,
            ),
            runs_dir=runs_dir,
            tracker=tracker,
            parent_run_id=parent_run_id,
            objectives=setup.objectives,
            report_epochs=report_epochs,
            monitor=objective_kind.metric,
            run_tags=trial_run_tags(options.study_name, setup, sampler_name, pruner_name),
            trial_progress_bar=options.trial_progress_bar,
            artifact_store=FileSystemArtifactStore(str(artifact_dir)),
            max_retries=options.max_retries,
            system_metrics=options.system_metrics,
            md_spec=md_spec,
            md_constraint=setup.md_constraint,
        )
        callbacks = list(options.callbacks)
        if options.study_trials is not None:
            callbacks.append(MaxTrialsCallback(options.study_trials, states=FINISHED_STATES))
        finished = finished_trials(study)
        if options.study_trials is None or finished < options.study_trials:
            # a trial's cyclic garbage (trainer, model, loaders) is collected after it; what
            # exists now (imports, data, study) lives through the sweep, so it is frozen out of
            # those collections: a full one over it took 0.6 s per trial
            gc.freeze()
            try:
                study.optimize(
                    objective,
                    n_trials=options.n_trials,
                    timeout=options.timeout,
                    catch=(TrialFailed,),
                    show_progress_bar=options.show_progress_bar,
                    gc_after_trial=True,
                    callbacks=callbacks,
                )
            finally:
                gc.unfreeze()
        else:
            logger.info(
                "study %r already holds %d finished trials (--study-trials): nothing to run",
                options.study_name,
                finished,
            )
        status = "FINISHED"
    except Interrupted:
        status = "KILLED"
        raise
    finally:
        summarise_parent(study, tracker, parent_run_id, status)
    return SweepOutcome(
        study, setup, parent_run_id, tracking, created, runs_dir, tracker.experiment_name
    )
