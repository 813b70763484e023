"""A training as an MLflow run: its context and result tags, parameters and metrics.

:func:`tracked_training` trains one model under a :class:`~hpo.tracking.runs.Tracker`
run; the helpers here turn a configuration, a trial and a result into what
MLflow stores (flattened parameters, ``pesweep.*`` tags, epoch metrics, the
system metrics of the block).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import Callback

from hpo import __version__
from hpo.runtime.deferred_interrupts import DeferInterrupts
from hpo.runtime.interrupts import Interrupted
from hpo.tracking.runs import ELEMENT_REFERENCES_TAG, STUDY_UID_TAG, Tracker
from lightning_modules.store_uris import mlflow_run_url

logger = logging.getLogger(__name__)


def split_hash(indices: list[int] | np.ndarray) -> str:
    """Short hash of test-split indices: versions are comparable only on the same test set."""
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()[:16]


@contextmanager
def system_metrics(tracker: Tracker | None, run_id: str | None) -> Iterator[None]:
    """MLflow's system metrics (``system/cpu_utilization_percentage``, memory, GPU) for the block.

    Nothing without a tracker or a run. Sampled every 10 s unless MLflow's own
    ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` says otherwise. MLflow's monitor drops
    the samples of a period cut short when it stops, so a block shorter than one
    period (a quick or early-pruned trial) would have none: a last sample taken at
    the end of the block is logged with them.
    """
    if tracker is None or run_id is None:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(run_id, tracking_uri=tracker.tracking.driver_url)
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()
        try:
            monitor.collect_metrics()
            monitor.publish_metrics(monitor.aggregate_metrics())
            monitor.mlflow_logger.flush()
        except Exception as error:  # as MLflow's monitor does: never mask the block's own outcome
            logger.warning("the last system-metrics sample was not logged: %s", error)


def run_note(tracker: Tracker, run_id: str) -> str:
    """Markdown pointing from an Optuna trial to its MLflow run (a link on a tracking server)."""
    uri = tracker.tracking.masked
    if tracker.tracking.is_server:
        link = mlflow_run_url(uri, tracker.experiment_id, run_id)
        return f"MLflow run: [{run_id}]({link})"
    return (
        f"MLflow run `{run_id}` (experiment {tracker.experiment_id}) in `{uri}`; open it with "
        f"`mlflow ui --backend-store-uri {uri}`"
    )


class EpochMetricsLogger(Callback):
    """Logs every validation epoch's metrics (with the epoch's learning rate) to an MLflow run."""

    def __init__(self, tracker: Tracker, run_id: str) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.last_epoch = -1

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        self.tracker.log_metrics(self.run_id, metrics, step=trainer.current_epoch)
        self.last_epoch = trainer.current_epoch


def config_params(config: dict[str, Any]) -> dict[str, Any]:
    """A training config as a run's ``config.*`` parameters (live, or written later by sync)."""
    return {
        f"config.{k}": v
        for k, v in config.items()
        if k not in ("model_config", "output_dir", "progress_bar")
    }


def trial_run_tags(study_name: str, setup: Any, sampler: str, pruner: str) -> dict[str, str]:
    """The tags every trial run of a study carries (live, or written later by sync)."""

    return {
        "optuna.study": study_name,
        "optuna.sampler": sampler,
        "optuna.pruner": pruner,
        "pesweep.energy_unit": setup.energy_unit,
        "pesweep.data_hash": ",".join(h[:16] for h in setup.data_hashes),
        "pesweep.version": __version__,
        STUDY_UID_TAG: setup.study_uid,
    }


def result_tags(result: Any) -> dict[str, str]:
    """Tags of a finished training's run: the test split's hash, how its references were made."""
    from lightning_modules.data.references import EnergyReference
    from lightning_modules.training.task import CHECKPOINT_DIGEST_TAG

    tags = {"pesweep.test_split_hash": split_hash(result.split.get("test", []))}
    if result.checkpoint_sha256:
        tags[CHECKPOINT_DIGEST_TAG] = result.checkpoint_sha256
    if result.energy_reference:
        summary = EnergyReference.from_dict(result.energy_reference).summary()
        tags[ELEMENT_REFERENCES_TAG] = summary[:4000]
    return tags


def tracked_training(
    config: Any,
    tracker: Tracker,
    run_name: str,
    tags: dict[str, str],
    params: dict[str, Any],
    datamodule: Any = None,
) -> tuple[Any, str]:
    """One training as one MLflow run: per-epoch metrics, test metrics, checkpoint and split.

    Returns (TrainResult, run id); the run ends FINISHED, FAILED when training raises, or
    KILLED when it is interrupted. ``datamodule``: the data already read (else the config's).
    """
    from lightning_modules.training.run import train

    run_id = tracker.start_run(run_name, tags)
    tracker.log_params(run_id, params)
    try:
        result = train(
            config,
            callbacks=[EpochMetricsLogger(tracker, run_id), DeferInterrupts()],
            datamodule=datamodule,
        )
    except BaseException as error:
        tracker.end_run(run_id, "KILLED" if isinstance(error, Interrupted) else "FAILED")
        raise
    tracker.log_metrics(
        run_id,
        {
            **result.test_metrics,
            "train_seconds": result.seconds,
            **{f"best_{k}": v for k, v in result.val_metrics.items()},
        },
        step=result.epochs,
    )
    tracker.set_tags(run_id, result_tags(result))
    tracker.log_datasets(run_id, result.data_files, "training")
    tracker.log_model(run_id, result.checkpoint_path, result.example)
    tracker.log_artifact(run_id, Path(result.output_dir) / "split.npz")
    tracker.end_run(run_id, "FINISHED")
    return result, run_id
