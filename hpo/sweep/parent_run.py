"""The MLflow side of a study: its experiment and its parent run, under which every trial nests."""

from __future__ import annotations

import logging
import time

import optuna
from mlflow.exceptions import MlflowException
from optuna.trial import TrialState

from hpo import __version__
from hpo.study.registries import BEST_VALIDATION_METRIC
from hpo.study.setup import EXPERIMENT_ATTR, PARENT_RUN_ATTR, StudySetup
from hpo.study.trial_record import best_trial
from hpo.tracking.runs import (
    STUDY_UID_TAG,
    Tracker,
    study_experiment_name,
    tracking_client,
)
from hpo.tracking.stores import Store
from search_spaces.space import SearchSpace

logger = logging.getLogger(__name__)


def study_tracker(
    study: optuna.Study,
    setup: StudySetup,
    space: SearchSpace,
    tracking: Store,
    created: bool,
    wait_seconds: float = 60.0,
) -> tuple[Tracker, str]:
    """The study's MLflow experiment and parent run, made by the process that created the study.

    A worker that joins a study a moment after its creation waits for the
    creator to record the parent run id, so all trials nest under one run.
    The experiment is the study's own (tagged with its uid): another study of
    the same name, in another storage, gets another experiment.
    """
    run_id = study.user_attrs.get(PARENT_RUN_ATTR)
    deadline = time.monotonic() + wait_seconds
    while not run_id and not created and time.monotonic() < deadline:
        time.sleep(0.5)
        run_id = study.user_attrs.get(PARENT_RUN_ATTR)  # read from the storage each time
    experiment = study.user_attrs.get(EXPERIMENT_ATTR)
    if experiment is None:  # a new study, or one made before experiments were recorded
        experiment = (
            study.study_name
            if run_id
            else study_experiment_name(tracking_client(tracking), study.study_name, setup.study_uid)
        )
    tracker = Tracker(tracking, experiment, {STUDY_UID_TAG: setup.study_uid}, tolerate_outage=True)
    if run_id:
        try:
            tracker.client.get_run(run_id)
            tracker.client.update_run(run_id, status="RUNNING")
            return tracker, str(run_id)
        except MlflowException:
            logger.warning(
                "the study's parent run %s is not in %s; starting a new parent run",
                run_id,
                tracking,
            )
    run_id = tracker.start_parent_run(
        study.study_name, {"pesweep.version": __version__, STUDY_UID_TAG: setup.study_uid}
    )
    study.set_user_attr(EXPERIMENT_ATTR, experiment)
    study.set_user_attr(PARENT_RUN_ATTR, run_id)
    tracker.log_params(
        run_id,
        {
            "space": space.name,
            "sampler": setup.sampler,
            "pruner": setup.pruner,
            "max_epochs": setup.max_epochs,
            "seed": setup.seed,
            "energy_unit": setup.energy_unit,
            "objectives": ",".join(setup.objectives),
            "data": ",".join(setup.data),
            "data_hashes": ",".join(h[:16] for h in setup.data_hashes),
        },
    )
    tracker.log_dict(run_id, setup.to_dict(), "study_setup.json")
    return tracker, run_id


def summarise_parent(
    study: optuna.Study, tracker: Tracker, parent_run_id: str, status: str
) -> None:
    counts = {state.name.lower(): 0 for state in TrialState}
    for trial in study.trials:
        counts[trial.state.name.lower()] += 1
    metrics = {f"n_trials_{state}": float(n) for state, n in counts.items()}
    best = best_trial(study) if len(study.directions) == 1 else None
    if best is not None:  # none when every complete trial failed its MD constraint
        assert best.value is not None  # a complete single-objective trial has its value
        metrics[BEST_VALIDATION_METRIC] = float(best.value)
        tracker.set_tags(parent_run_id, {"best_trial": best.number})
    tracker.log_metrics(parent_run_id, metrics, step=len(study.trials))
    tracker.end_run(parent_run_id, status)
