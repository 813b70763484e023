"""``pesweep sync``: write into MLflow what a tracking outage left out, from Optuna's record.

Optuna's storage is the source of truth of a sweep: every finished trial
keeps its parameters, its per-epoch values (``history``), its test metrics
and the folder of its checkpoint and artifacts. For each finished trial,
sync finds the trial's run (by its ``mlflow_run_id``, else by the tags
``optuna.trial_number`` and ``pesweep.study_uid``) or creates it under the
study's parent run, logs the epochs and metrics the run lacks, uploads the
artifacts it lacks and ends it with the trial's state. Running it twice
changes nothing the second time: it never makes a second run for a trial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo.study.registries import BEST_VALIDATION_METRIC, N_PARAMS
from hpo.study.trial_record import trial_result
from hpo.tracking.model_flavour import MODEL_ARTIFACT
from hpo.tracking.runs import STUDY_UID_TAG, Tracker, context_tags
from hpo.tracking.training_runs import config_params, result_tags, trial_run_tags

logger = logging.getLogger(__name__)

RUN_STATUS = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "KILLED",
    TrialState.FAIL: "FAILED",
}
ARTIFACT_FILES = ("split.npz", "config.yaml", "audit.json")
FIGURES = ("parity.svg", "learning_curve.svg")  # a trial folder's figures (hpo.sweep.objective)


@dataclass
class SyncReport:
    """What one sync wrote."""

    runs_created: int = 0
    runs_completed: int = 0
    metrics_logged: int = 0
    artifacts_logged: int = 0

    @property
    def changed(self) -> bool:
        return any(
            (self.runs_created, self.runs_completed, self.metrics_logged, self.artifacts_logged)
        )

    def describe(self) -> str:
        return (
            f"{self.runs_created} runs created, {self.runs_completed} ended, "
            f"{self.metrics_logged} metric values and {self.artifacts_logged} artifacts written"
        )


def _trial_runs(tracker: Tracker, study_uid: str) -> dict[int, Any]:
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        filter_string=f"tags.`pesweep.kind` = 'trial' and tags.`{STUDY_UID_TAG}` = '{study_uid}'",
        max_results=50000,
    )
    found: dict[int, Any] = {}
    for run in runs:
        number = int(run.data.tags.get("optuna.trial_number", -1))
        found.setdefault(number, run)  # the first logged, should there ever be two
    return found


def sync_study(
    study: optuna.Study,
    tracker: Tracker,
    parent_run_id: str,
    setup: Any,
    thorough: bool = True,
) -> SyncReport:
    """Make MLflow agree with the study's finished trials (see the module docstring).

    ``setup``: the study's :class:`~hpo.study.setup.StudySetup`. A run made here holds
    what a live one does: the study's tags, every value of the space as
    parameters, the result's tags (test split, references, checkpoint SHA-256),
    the data as dataset inputs, the figures and the trial folder's files. Not
    ``thorough`` (at the start of a sweep): runs that ended and hold their final
    metrics are taken as whole, so a large study costs one search.
    """
    report = SyncReport()
    study_uid = setup.study_uid
    existing = _trial_runs(tracker, study_uid)
    records = _LiveRecords(study.study_name, setup)
    for trial in study.get_trials(deepcopy=False, states=tuple(RUN_STATUS)):
        if trial.user_attrs.get("duplicate_of") is not None:
            continue  # it reused another trial's result and was never trained
        run = existing.get(trial.number)
        if run is None and trial.user_attrs.get("mlflow_run_id"):
            try:
                run = tracker.client.get_run(trial.user_attrs["mlflow_run_id"])
            except Exception:  # the run was never written
                run = None
        if run is None:
            run_id = tracker.client.create_run(
                tracker.experiment_id,
                run_name=f"trial-{trial.number}",
                tags={
                    **context_tags(),
                    **records.tags(),
                    "mlflow.parentRunId": parent_run_id,
                    "pesweep.kind": "trial",
                    "optuna.trial_number": str(trial.number),
                    STUDY_UID_TAG: study_uid,
                    "pesweep.synced": "true",
                },
            ).info.run_id
            tracker.log_params(run_id, records.params(trial))
            report.runs_created += 1
            status, metric_keys, artifacts = "RUNNING", set(), set()
            records.complete(tracker, run_id, trial)
        else:
            if (
                not thorough
                and run.info.status != "RUNNING"
                and (
                    trial.state != TrialState.COMPLETE or BEST_VALIDATION_METRIC in run.data.metrics
                )
            ):
                continue
            run_id = run.info.run_id
            status = run.info.status
            metric_keys = set(run.data.metrics)
            artifacts = {a.path for a in tracker.client.list_artifacts(run_id)}
        report.metrics_logged += _log_missing_metrics(tracker, run_id, trial, metric_keys)
        report.artifacts_logged += _log_missing_artifacts(tracker, run_id, trial, artifacts)
        if status == "RUNNING":
            if trial.user_attrs.get("fail_reason"):
                tracker.set_tags(run_id, {"fail_reason": trial.user_attrs["fail_reason"]})
            tracker.end_run(run_id, RUN_STATUS[trial.state], trial.state.name)
            report.runs_completed += 1
    return report


def _log_missing_metrics(
    tracker: Tracker, run_id: str, trial: FrozenTrial, present: set[str]
) -> int:
    """The trial's epochs and final metrics that the run lacks; returns how many were logged."""
    count = 0
    recorded = trial_result(trial)
    history = recorded.get("history") or [
        {"epoch": step, "val_energy_mae_eV": value}
        for step, value in sorted(trial.intermediate_values.items())
    ]
    names = {name for epoch in history for name in epoch if name != "epoch"}
    for name in sorted(names):
        logged = (
            {m.step for m in tracker.client.get_metric_history(run_id, name)}
            if name in present
            else set()
        )
        for epoch in history:
            step = int(epoch["epoch"])
            if name in epoch and step not in logged:
                tracker.log_metrics(run_id, {name: float(epoch[name])}, step=step)
                count += 1
    if trial.state == TrialState.COMPLETE and BEST_VALIDATION_METRIC not in present:
        final = {
            **recorded.get("test_metrics", {}),
            BEST_VALIDATION_METRIC: float(trial.values[0]),
            N_PARAMS: float(recorded.get(N_PARAMS, float("nan"))),
            "train_seconds": float(recorded.get("train_seconds", float("nan"))),
            "inference_ms_per_structure": float(
                recorded.get("inference_ms_per_structure", float("nan"))
            ),
        }
        tracker.log_metrics(run_id, final, step=int(recorded.get("epochs", 0)))
        count += len(final)
    return count


def trial_folder(trial: FrozenTrial) -> Path | None:
    """The folder of a trial's checkpoint and files: recorded, else its checkpoint's."""
    if trial.user_attrs.get("output_dir"):
        return Path(trial.user_attrs["output_dir"])
    checkpoint = trial_result(trial).get("checkpoint_path")
    return Path(checkpoint).parent if checkpoint else None


def _log_missing_artifacts(
    tracker: Tracker, run_id: str, trial: FrozenTrial, present: set[str]
) -> int:
    """The model and the trial folder's files, when the run lacks them and they are here.

    The model is logged without an input example (the trial's data are not read again).
    """
    if trial.state != TrialState.COMPLETE:
        return 0
    count = 0
    checkpoint = trial_result(trial).get("checkpoint_path")
    if checkpoint and MODEL_ARTIFACT not in present and Path(checkpoint).is_file():
        tracker.log_model(run_id, checkpoint, {})
        count += 1
    folder = trial_folder(trial)
    for name in ARTIFACT_FILES:
        path = folder / name if folder else None
        if path is not None and name not in present and path.is_file():
            tracker.log_artifact(run_id, path)
            count += 1
    return count


class _LiveRecords:
    """What a live trial run records beyond its metrics, rebuilt from the study's record."""

    def __init__(self, study_name: str, setup: Any) -> None:
        self.study_name, self.setup = study_name, setup
        self._space: Any = None
        self._data_files: list[dict[str, Any]] | None = None

    def tags(self) -> dict[str, str]:
        return trial_run_tags(self.study_name, self.setup, self.setup.sampler, self.setup.pruner)

    def params(self, trial: FrozenTrial) -> dict[str, Any]:
        """Every value of the space, the fixed ones too, as the live run logs them."""
        from search_spaces.space import parse_space
        from search_spaces.suggest import suggest

        if self._space is None:
            self._space = parse_space(self.setup.space_text, self.setup.space_origin)
        try:
            return dict(suggest(optuna.trial.FixedTrial(trial.params), self._space))
        except (ValueError, KeyError):  # a space changed since: the sampled values at least
            return dict(trial.params)

    def data_files(self) -> list[dict[str, Any]]:
        if self._data_files is None:
            from lightning_modules.data import load_data

            present = all(Path(p).is_file() for p in self.setup.data)
            self._data_files = (
                load_data(list(self.setup.data), self.setup.energy_unit).source_summaries()
                if present
                else []
            )
        return self._data_files

    def complete(self, tracker: Tracker, run_id: str, trial: FrozenTrial) -> None:
        """The result's tags, the dataset inputs and the figures of a trial's new run."""
        tracker.log_datasets(run_id, self.data_files(), "training")
        recorded = trial_result(trial)
        checkpoint = recorded.get("checkpoint_path")
        folder = trial_folder(trial)
        if checkpoint and Path(checkpoint).is_file():
            from lightning_modules.errors import PesweepError
            from lightning_modules.training.task import read_checkpoint

            try:
                metadata = read_checkpoint(checkpoint).get("pesweep", {})
            except PesweepError:
                metadata = {}
            result = SimpleNamespace(
                split=metadata.get("split", {}),
                energy_reference=metadata.get("energy_reference", {}),
                checkpoint_sha256=recorded.get("checkpoint_sha256", ""),
            )
            tracker.set_tags(run_id, result_tags(result))
        for name in FIGURES:
            path = folder / name if folder else None
            if path is not None and path.is_file():
                tracker.log_artifact(run_id, path, "figures")
        written = folder / "config.yaml" if folder else None
        if written is not None and written.is_file():  # the training's config, as train wrote it
            import yaml

            config = yaml.safe_load(written.read_text()) or {}
            tracker.log_params(run_id, config_params(config))
