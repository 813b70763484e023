"""Trials that a worker lost are retried with the same parameters, from their last finished epoch.

Two ways a trial is lost, one way back:

* The worker was preempted (SIGTERM, or Slurm's SIGUSR1 before the time
  limit): the objective ends the trial as FAIL ("preempted") and enqueues
  its retry itself before the worker exits.
* The worker died (``kill -9``, a lost node): Optuna's heartbeat on the RDB
  storage lets the next worker that starts a trial fail the stale one, and
  :class:`StaleTrialHandler` (the storage's ``heartbeat_stale_trial_callback``)
  ends its MLflow run FAILED ("worker lost") and enqueues its retry.

A retry is an enqueued trial (Optuna's own queue in the study's storage, no
queue of ours) with the lost trial's parameters and user attributes
``retry_of`` (the trial it continues), ``retries`` (how many retries the
chain has had) and ``resume_from`` (the lost trial's ``last.ckpt``). The
objective trains the retry in the lost trial's folder from that checkpoint,
so the epochs, the best checkpoint and the learning curve go on where they
stopped. Unlike Optuna's ``RetryFailedTrialCallback`` nothing is trained twice
but the epoch that was cut short.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial

if TYPE_CHECKING:
    from hpo.tracking.runs import Tracker

logger = logging.getLogger(__name__)

RETRY_OF = "retry_of"
RETRIES = "retries"
RESUME_FROM = "resume_from"
OUTPUT_DIR = "output_dir"  # every trial records its folder, so a retry finds its last.ckpt
LAST_CHECKPOINT = "last.ckpt"
WORKER_LOST = "worker lost"
DEFAULT_MAX_RETRIES = 1


@dataclass(frozen=True)
class Heartbeat:
    """Optuna's heartbeat settings (seconds): a trial silent for ``grace_period`` is stale.

    The heartbeat is a thread, not an epoch callback, so the defaults suit
    epochs of minutes as well as of seconds.
    """

    interval: int = 60
    grace_period: int = 180

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.grace_period <= 0:
            raise ValueError("heartbeat interval and grace period must be positive seconds")


DEFAULT_HEARTBEAT = Heartbeat()


def enqueue_retry(
    study: optuna.Study, lost: FrozenTrial | optuna.Trial, reason: str, max_retries: int
) -> int | None:
    """Enqueue the retry of ``lost`` (if its chain has retries left); returns the retry count.

    The retry continues the trial the chain started from its ``last.ckpt``
    (when the folder is reachable from here; else it trains from the start).
    """
    retries = int(lost.user_attrs.get(RETRIES, 0))
    if retries >= max_retries:
        logger.warning(
            "trial %d was lost (%s) and has had %d retries (--max-retries %d): not retried",
            lost.number,
            reason,
            retries,
            max_retries,
        )
        return None
    attributes: dict[str, object] = {
        RETRY_OF: lost.number,
        RETRIES: retries + 1,
        "retry_reason": reason,
    }
    folder = lost.user_attrs.get(OUTPUT_DIR)
    if folder:
        attributes[OUTPUT_DIR] = folder
        attributes[RESUME_FROM] = str(Path(folder) / LAST_CHECKPOINT)
    if lost.user_attrs.get("mlflow_run_id"):
        attributes["retry_of_run"] = lost.user_attrs["mlflow_run_id"]
    study.enqueue_trial(lost.params, user_attrs=attributes)
    logger.info(
        "trial %d (%s) is enqueued again (retry %d of %d), to resume from its last epoch",
        lost.number,
        reason,
        retries + 1,
        max_retries,
    )
    return retries + 1


class StaleTrialHandler:
    """Optuna's ``heartbeat_stale_trial_callback``: a dead worker's trial is closed and retried.

    The tracker is attached once the study's MLflow experiment is known
    (:func:`hpo.sweep.runner.run_sweep`); Optuna has already set the trial FAIL.
    """

    def __init__(self, max_retries: int = DEFAULT_MAX_RETRIES) -> None:
        self.max_retries = max_retries
        self.tracker: Tracker | None = None

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        logger.warning(
            "trial %d sent no heartbeat for the grace period: its worker is lost", trial.number
        )
        run_id = trial.user_attrs.get("mlflow_run_id")
        if self.tracker is not None and run_id:
            try:
                self.tracker.set_tags(run_id, {"fail_reason": WORKER_LOST})
                self.tracker.end_run(run_id, "FAILED", "FAIL")
            except Exception as error:  # the trial's retry does not depend on the tracking store
                logger.warning("could not end MLflow run %s as FAILED: %s", run_id, error)
        enqueue_retry(study, trial, WORKER_LOST, self.max_retries)


def resume_checkpoint(trial: optuna.Trial) -> Path | None:
    """The ``last.ckpt`` a retry continues from, or None (a new trial, or the file is gone)."""
    path = trial.user_attrs.get(RESUME_FROM)
    if not path:
        return None
    if not Path(path).is_file():
        logger.warning(
            "trial %d retries trial %s, but its checkpoint %s is not here: training from the "
            "first epoch",
            trial.number,
            trial.user_attrs.get(RETRY_OF),
            path,
        )
        return None
    return Path(path)
