"""The objective: one Optuna trial = one Lightning training = one nested MLflow run.

It builds the model from the sampled parameters, trains it, reports the
validation energy MAE every epoch to Optuna (optuna-integration's Lightning
callback: the study's pruner may stop the trial) and returns the best validation
MAE (eV per structure), or a tuple for multi-objective studies.

* A trial whose parameters equal a finished trial's is not retrained: it
  returns the stored values and says so (``duplicate_of`` user attribute).
* A diverging trial (NaN/inf loss, out of memory, an impossible sampled
  configuration) ends as FAIL with ``fail_reason`` stored; the study goes on.
* An interrupted trial (:mod:`hpo.runtime.interrupts`) ends as FAIL with
  ``fail_reason`` "interrupted" (SIGINT) or "preempted" (SIGTERM, SIGUSR1) and
  its MLflow run as KILLED; a preempted one is enqueued again
  (:mod:`hpo.study.retries`). The interruption goes on up to the command line.
* A retry (user attribute ``retry_of``) trains in the lost trial's folder
  from its ``last.ckpt``: its first reported epoch is the one after the
  checkpoint (``resumed_at_epoch``).
* The trial and its MLflow run point to each other: ``mlflow_run_id`` in the
  trial's user attributes, ``optuna.trial_number`` in the run's tags.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import TrialState
from optuna_integration import PyTorchLightningPruningCallback

from hpo.runtime.deferred_interrupts import DeferInterrupts
from hpo.runtime.interrupts import Interrupted
from hpo.study.registries import (
    INFERENCE_METRIC,
    MD_CONSTRAINT,
    MD_STABLE_PS,
    N_PARAMS,
    VALIDATION_LOSS,
    TrialMeasures,
    objective_values,
)
from hpo.study.retries import (
    DEFAULT_MAX_RETRIES,
    LAST_CHECKPOINT,
    OUTPUT_DIR,
    RETRY_OF,
    enqueue_retry,
    resume_checkpoint,
)
from hpo.study.trial_note import save_new_trial_note
from hpo.study.trial_record import RESULT_ATTR
from hpo.sweep.loss_curve import TrainingLossCurve, earlier_curve
from hpo.sweep.trial_outputs import (
    epoch_history,
    evaluate_test_split,
    reported_history,
    resumed_epoch,
    slurm_task,
    upload_trial_figures,
    write_trial_figures,
)
from hpo.tracking.runs import Tracker
from hpo.tracking.training_runs import (
    EpochMetricsLogger,
    config_params,
    result_tags,
    run_note,
    system_metrics,
)
from lightning_modules.conventions import MONITORED_METRIC
from lightning_modules.errors import CheckpointError, UnsafeCheckpoint
from lightning_modules.training.config import ConfigError, TrainConfig
from lightning_modules.training.prepared import PreparedData
from lightning_modules.training.run import DivergenceError, TrainResult, build_datamodule, train
from search_spaces.space import SearchSpace
from search_spaces.suggest import suggest, to_train_config

logger = logging.getLogger(__name__)

HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "val_energy_mae_eV", "train_energy_mae_eV")


class TrialFailed(RuntimeError):
    """A trial that ended as FAIL for a stated reason; the study continues."""


@dataclass
class Objective:
    """Callable objective of a pesweep study (see the module docstring)."""

    space: SearchSpace
    data: PreparedData  # made once per study: audit, split, references, pair/descriptor cache
    base_config: TrainConfig
    runs_dir: Path
    tracker: Tracker | None = None
    parent_run_id: str | None = None
    objectives: tuple[str, ...] = ("energy_mae",)
    report_epochs: bool = True  # every epoch's ``monitor`` to Optuna; its pruner may stop the trial
    monitor: str = MONITORED_METRIC  # the single objective's per-epoch metric
    run_tags: dict[str, str] = field(default_factory=dict)
    trial_progress_bar: bool = False
    artifact_store: Any = None  # optuna FileSystemArtifactStore for optuna-dashboard figures
    max_retries: int = (
        DEFAULT_MAX_RETRIES  # of a preempted trial (a dead worker's: StaleTrialHandler)
    )
    system_metrics: bool = False  # MLflow's CPU, memory and GPU metrics in the trial's run
    md_spec: Any = None  # an MDSpec: the trained model's MD check (md_stable_ps, constraint)
    md_constraint: bool = False  # a model that fails the check makes the trial infeasible

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        values = suggest(trial, self.space)
        duplicate = self._finished_duplicate(trial)
        if duplicate is not None:
            logger.info(
                "trial %d repeats trial %d's parameters: reusing its result, not retraining",
                trial.number,
                duplicate.number,
            )
            trial.set_user_attr("duplicate_of", duplicate.number)
            for key, value in duplicate.user_attrs.items():
                if key != "duplicate_of":
                    trial.set_user_attr(key, value)
            assert duplicate.values is not None
            return duplicate.values[0] if len(duplicate.values) == 1 else tuple(duplicate.values)
        resume_from = resume_checkpoint(trial)
        epoch = 0
        if resume_from is not None:  # read before anything of the trial is made
            try:
                epoch = resumed_epoch(resume_from)
            except UnsafeCheckpoint as error:
                self._fail(trial, None, str(error))
                raise TrialFailed(str(error)) from error
            except CheckpointError as error:  # a crash while it was written, a full disk
                logger.warning("trial %d starts afresh: %s", trial.number, error)
                trial.set_user_attr("resume_refused", str(error))
                resume_from = None
        output_dir = (
            resume_from.parent if resume_from else self.runs_dir / f"trial-{trial.number:04d}"
        )
        trial.set_user_attr(OUTPUT_DIR, str(output_dir))
        slurm_job = slurm_task()
        if slurm_job:
            trial.set_user_attr("slurm_job", slurm_job)
        if resume_from is not None:
            trial.set_user_attr("resumed_at_epoch", epoch)
            logger.info(
                "trial %d continues trial %s from epoch %d (%s)",
                trial.number,
                trial.user_attrs[RETRY_OF],
                epoch,
                resume_from,
            )
        run_id = self._start_run(trial, values)
        try:
            config = to_train_config(
                self.space,
                values,
                self.base_config,
                overrides={"output_dir": str(output_dir), "progress_bar": self.trial_progress_bar},
            )
            earlier = earlier_curve(trial, trial.user_attrs[RETRY_OF], epoch) if resume_from else []
            result = self._train(trial, config, run_id, resume_from, earlier)
            return self._finish(trial, run_id, result)
        except optuna.TrialPruned:
            self._record_pruned(trial, run_id, output_dir)
            self._end_run(run_id, "KILLED", "PRUNED")
            raise
        except Interrupted as interruption:
            self._interrupted(trial, run_id, interruption)
            raise
        except (DivergenceError, ConfigError, torch.OutOfMemoryError) as error:
            reason = str(error).splitlines()[0]
            self._fail(trial, run_id, reason)
            raise TrialFailed(reason) from error
        except RuntimeError as error:
            if "out of memory" not in str(error):
                self._fail(trial, run_id, f"{type(error).__name__}: {error}")
                raise
            reason = f"out of memory: {str(error).splitlines()[0]}"
            self._fail(trial, run_id, reason)
            raise TrialFailed(reason) from error
        except Exception as error:
            self._fail(trial, run_id, f"{type(error).__name__}: {error}")
            raise

    def _interrupted(
        self, trial: optuna.Trial, run_id: str | None, interruption: Interrupted
    ) -> None:
        """End the trial as FAIL (Optuna leaves it RUNNING for a BaseException), the run KILLED.

        A preempted trial is enqueued again, to resume from its ``last.ckpt``.
        """
        reason = interruption.reason
        logger.warning(
            "trial %d %s by %s: it ends as FAIL, its MLflow run as KILLED",
            trial.number,
            reason,
            interruption.signal_name,
        )
        trial.set_user_attr("fail_reason", reason)
        if self.tracker is not None and run_id is not None:
            try:
                self.tracker.set_tags(run_id, {"fail_reason": reason})
                self._end_run(run_id, "KILLED", "FAIL")
            except Exception as error:  # the tracking store is not needed to end the trial
                logger.warning("could not mark MLflow run %s KILLED: %s", run_id, error)
        trial.study.tell(trial, state=TrialState.FAIL)
        if interruption.preempted:
            enqueue_retry(trial.study, trial, reason, self.max_retries)

    def _finished_duplicate(self, trial: optuna.Trial) -> optuna.trial.FrozenTrial | None:
        for other in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if other.number != trial.number and other.params == trial.params:
                return other
        return None

    def _start_run(self, trial: optuna.Trial, values: dict[str, Any]) -> str | None:
        if self.tracker is None or self.parent_run_id is None:
            return None
        tags = dict(self.run_tags)
        for name in (RETRY_OF, "retry_of_run", "resumed_at_epoch", "slurm_job"):
            if name in trial.user_attrs:
                tags[f"pesweep.{name}"] = str(trial.user_attrs[name])
        run_id = self.tracker.start_trial_run(self.parent_run_id, trial.number, tags)
        if run_id is None:  # the tracking server is away: `pesweep sync` makes the run later
            return None
        trial.set_user_attr("mlflow_run_id", run_id)
        self.tracker.log_params(run_id, values)
        return run_id

    def _train(
        self,
        trial: optuna.Trial,
        config: TrainConfig,
        run_id: str | None,
        resume_from: Path | None = None,
        earlier_losses: list[float] | None = None,
    ) -> TrainResult:
        # first: its curve is written (and an estimation pruner asked) before Optuna's report
        callbacks: list[Any] = [TrainingLossCurve(trial, earlier_losses or [])]
        if self.tracker is not None and run_id is not None:
            self.tracker.log_params(run_id, config_params(config.to_dict()))
            callbacks.append(EpochMetricsLogger(self.tracker, run_id))
        if self.report_epochs:  # with the 'none' pruner: learning curves, never pruned
            callbacks.append(PyTorchLightningPruningCallback(trial, monitor=self.monitor))
        callbacks.append(DeferInterrupts())
        datamodule = build_datamodule(config, data=self.data)
        with system_metrics(self.tracker if self.system_metrics else None, run_id):
            return train(
                config,
                callbacks=callbacks,
                datamodule=datamodule,
                log_audit=False,
                resume_from=str(resume_from) if resume_from else None,
            )

    def _fail(self, trial: optuna.Trial, run_id: str | None, reason: str) -> None:
        logger.warning("trial %d failed: %s", trial.number, reason)
        trial.set_user_attr("fail_reason", reason)
        if self.tracker is not None and run_id is not None:
            self.tracker.set_tags(run_id, {"fail_reason": reason})
            self._end_run(run_id, "FAILED", "FAIL")

    def _record_pruned(self, trial: optuna.Trial, run_id: str | None, output_dir: Path) -> None:
        """A pruned trial's run gets what a finished one shows: its data and its learning curve."""
        if self.tracker is None or run_id is None:
            return
        data = self.data.data if isinstance(self.data, PreparedData) else self.data
        self.tracker.log_datasets(run_id, data.source_summaries(), "training")
        history = epoch_history(output_dir / LAST_CHECKPOINT) or reported_history(trial)
        if history:
            figure = write_trial_figures(
                trial.number, output_dir, np.zeros(0), np.zeros(0), history, parity=False
            )
            for path in figure:
                self.tracker.log_artifact(run_id, path, "figures")

    def _end_run(self, run_id: str | None, status: str, optuna_state: str) -> None:
        if self.tracker is not None and run_id is not None:
            self.tracker.end_run(run_id, status, optuna_state)

    def _finish(
        self, trial: optuna.Trial, run_id: str | None, result: TrainResult
    ) -> float | tuple[float, ...]:
        inference_ms, reference, predicted = evaluate_test_split(result.checkpoint_path, self.data)
        figures = write_trial_figures(
            trial.number, Path(result.output_dir), reference, predicted, result.history
        )
        if self.artifact_store is not None:
            upload_trial_figures(trial, self.artifact_store, figures)
        md_stable_ps = self._md_check(trial, run_id, result)
        if run_id is not None and self.tracker is not None:
            save_new_trial_note(trial, run_note(self.tracker, run_id))
        trial.set_user_attr(  # one write: each attribute is a storage transaction
            RESULT_ATTR,
            {
                "checkpoint_path": str(Path(result.checkpoint_path).resolve()),
                "checkpoint_sha256": result.checkpoint_sha256,
                N_PARAMS: result.n_parameters,
                "train_seconds": round(result.seconds, 3),
                "epochs": result.epochs,
                INFERENCE_METRIC: inference_ms,
                "test_metrics": result.test_metrics,
                "history": [
                    {k: v for k, v in epoch.items() if k in HISTORY_KEYS}
                    for epoch in result.history
                ],
            },
        )
        if self.tracker is not None and run_id is not None:
            final = {
                **result.test_metrics,
                **{f"best_{k}": v for k, v in result.val_metrics.items()},
                N_PARAMS: float(result.n_parameters),
                "train_seconds": result.seconds,
                INFERENCE_METRIC: inference_ms,
            }
            self.tracker.log_metrics(run_id, final, step=result.epochs)
            self.tracker.set_tags(run_id, result_tags(result))
            self.tracker.log_datasets(run_id, result.data_files, "training")
            for figure in figures:  # shown on the MLflow run page too
                self.tracker.log_artifact(run_id, figure, "figures")
            output_dir = Path(result.output_dir)
            self.tracker.log_model(run_id, result.checkpoint_path, result.example)
            for name in ("split.npz", "config.yaml", "audit.json"):
                self.tracker.log_artifact(run_id, output_dir / name)
            self._end_run(run_id, "FINISHED", "COMPLETE")
        measures = TrialMeasures(
            result.best_val,
            result.n_parameters,
            inference_ms,
            md_stable_ps,
            result.val_metrics.get(VALIDATION_LOSS, float("nan")),
        )
        chosen = objective_values(self.objectives, measures)
        return chosen[0] if len(chosen) == 1 else chosen

    def _md_check(
        self, trial: optuna.Trial, run_id: str | None, result: TrainResult
    ) -> float | None:
        """The MD check of the trial's best model: stable ps, user attributes, the run's record.

        With ``md_constraint`` the trial gets Optuna's constraint
        (``Trial.set_constraint``, :data:`hpo.study.registries.MD_CONSTRAINT`): 0 when the
        model passes, else the ps it fell short of the whole check.
        """
        if self.md_spec is None:
            return None
        from hpo.workflows.md_gate import RDF_FIGURE, REPORT, TRAJECTORY, run_md_check

        folder = Path(result.output_dir) / "md_check"
        check = run_md_check(result.checkpoint_path, self.md_spec, folder, log_to_mlflow=False)
        report = check.report
        logger.info("trial %d MD check: %s", trial.number, report.summary())
        trial.set_user_attr(
            "md_check",
            {"passed": report.passed, "stable_ps": report.stable_ps, "reason": report.reason},
        )
        if self.md_constraint:
            shortfall = 0.0 if report.passed else max(report.total_ps - report.stable_ps, 1e-9)
            trial.set_constraint(MD_CONSTRAINT, shortfall)
        if self.tracker is not None and run_id is not None:
            self.tracker.log_metrics(run_id, {MD_STABLE_PS: report.stable_ps}, result.epochs)
            self.tracker.set_tags(
                run_id,
                {
                    "pesweep.md_check": "PASS" if report.passed else "FAIL",
                    "pesweep.md_summary": report.summary()[:500],
                },
            )
            for name in (TRAJECTORY, REPORT, RDF_FIGURE):
                if (folder / name).exists():
                    self.tracker.log_artifact(run_id, folder / name, "md_check")
        return report.stable_ps
