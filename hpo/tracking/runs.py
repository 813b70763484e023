"""Our small MLflow adapter: one parent run per study, one nested run per trial.

optuna-integration's ``MLflowCallback`` is deprecated and cannot nest trials
under a parent run, so we talk to :class:`mlflow.MlflowClient` directly (no
fluent API, no global active run): several worker processes can log trials
of one study under the same parent, whose id is stored with the study.

Tracking URI: MLflow's own default is ``sqlite:///mlflow.db`` in the working
directory (a local store); any MLflow tracking URI works (a server for
shared studies). With a SQLite store, the artifacts of an experiment pesweep
creates live beside the database (``mlruns/<experiment>`` in its folder), not
in the working directory of whichever process made the experiment.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
)
from mlflow.utils.time import get_current_time_millis

from hpo.tracking.stores import Store, creation_lock, tracking_store

logger = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 6000
DIGEST_LENGTH = 16  # of a data file's fingerprint (MLflow keeps digests short)


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_PARAM_LENGTH]


def tracking_client(tracking: Store) -> MlflowClient:
    """An MLflow client (runs and registry in one store); a new SQLite store is made under a lock.

    Processes that create one SQLite store at once race in MLflow's schema
    migrations; :func:`hpo.tracking.stores.creation_lock` lets one create it first.
    A tracking server's credentials are MLflow's own settings
    (``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``), read by MLflow.
    """
    with creation_lock(tracking):
        client = MlflowClient(tracking_uri=tracking.driver_url, registry_uri=tracking.driver_url)
        client.search_experiments(max_results=1)  # opens (and on first use migrates) the store
    return client


STUDY_UID_TAG = "pesweep.study_uid"
OPTUNA_STATE_TAG = "optuna.state"  # COMPLETE, PRUNED or FAIL: KILLED alone does not tell pruned
# MLflow 3's UI opens an experiment in its model-training view (runs, charts) rather than the
# GenAI one (traces, evaluations) when this experiment tag says so
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
ELEMENT_REFERENCES_TAG = "pesweep.element_references"  # how the references were obtained


def study_experiment_name(client: MlflowClient, study_name: str, study_uid: str) -> str:
    """The MLflow experiment of a study: its name, unless another study of that name has it.

    Studies of one name in different storages then never share an experiment:
    the second gets ``NAME-<uid8>``.
    """
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None or experiment.tags.get(STUDY_UID_TAG) == study_uid:
        return study_name
    return f"{study_name}-{study_uid[:8]}"


OUTAGE_RETRY_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
RETRY_OFFLINE_SECONDS = 30.0


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` says the tracking server did not answer (not that a request was wrong)."""
    text = str(error)
    return any(
        marker in text
        for marker in (
            "Max retries exceeded",
            "Connection refused",
            "Failed to establish",
            "timed out",
        )
    ) or type(error).__name__ in ("ConnectionError", "ConnectTimeout", "ReadTimeout")


class Tracker:
    """Logs studies and trials to one MLflow experiment (named after the study).

    With ``tolerate_outage`` (sweeps on a tracking server) a server that stops
    answering does not stop the work: calls are skipped with one warning and
    tried again every 30 s, Optuna keeps every trial's record, and
    :mod:`hpo.sweep.sync` writes the missing runs, metrics and artifacts later.
    """

    def __init__(
        self,
        tracking: str | Store,
        experiment_name: str,
        experiment_tags: dict[str, str] | None = None,
        tolerate_outage: bool = False,
    ) -> None:
        self.tracking = tracking_store(tracking)
        self.experiment_name = experiment_name
        self.tolerate_outage = tolerate_outage and self.tracking.is_server
        self.offline = False
        self._retry_at = 0.0
        if self.tolerate_outage:  # fail within seconds, not after MLflow's minutes of back-off
            for name, value in OUTAGE_RETRY_SETTINGS.items():
                os.environ.setdefault(name, value)
        self.client = tracking_client(self.tracking)
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is None:
            try:
                self.experiment_id = self.client.create_experiment(
                    experiment_name,
                    artifact_location=self.tracking.artifact_location(experiment_name),
                    tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND, **(experiment_tags or {})},
                )
            except Exception:  # another worker created it first; any store error re-raises below
                experiment = self.client.get_experiment_by_name(experiment_name)
                if experiment is None:
                    raise
                self.experiment_id = experiment.experiment_id
        else:
            self.experiment_id = experiment.experiment_id
            if EXPERIMENT_KIND_TAG not in experiment.tags:  # made by an earlier pesweep
                self.client.set_experiment_tag(
                    self.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND
                )

    def start_parent_run(self, study_name: str, tags: dict[str, str]) -> str:
        """Create the study's parent run (left RUNNING while the study is alive); return its id."""
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"study-{study_name}",
            tags={**context_tags(), "pesweep.study": study_name, "pesweep.kind": "study", **tags},
        )
        return run.info.run_id

    def start_run(self, run_name: str, tags: dict[str, str]) -> str:
        """A top-level run (a training, a fine-tuning) with MLflow's source and user tags."""
        run = self.client.create_run(
            self.experiment_id, run_name=run_name, tags={**context_tags(), **tags}
        )
        return str(run.info.run_id)

    def _guarded(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """``call(*args)``, or None while the tracking server is away (``tolerate_outage``)."""
        if not self.tolerate_outage:
            return call(*args, **kwargs)
        if self.offline and time.monotonic() < self._retry_at:
            return None
        try:
            result = call(*args, **kwargs)
        except Exception as error:  # MLflow wraps the HTTP client's errors in its own
            if not is_outage(error):
                raise
            if not self.offline:
                logger.warning(
                    "the MLflow tracking server %s does not answer: trials go on (Optuna keeps "
                    "them); `pesweep sync --study NAME` writes their runs when it is back, and "
                    "the next sweep of the study does so by itself",
                    self.tracking,
                )
            self.offline = True
            self._retry_at = time.monotonic() + RETRY_OFFLINE_SECONDS
            return None
        if self.offline:
            logger.info("the MLflow tracking server answers again")
            self.offline = False
        return result

    def start_trial_run(
        self, parent_run_id: str, trial_number: int, tags: dict[str, str]
    ) -> str | None:
        """A nested run for one trial; returns its id (None while the server is away)."""
        run = self._guarded(
            self.client.create_run,
            self.experiment_id,
            run_name=f"trial-{trial_number}",
            tags={
                **context_tags(),
                "mlflow.parentRunId": parent_run_id,
                "pesweep.kind": "trial",
                "optuna.trial_number": str(trial_number),
                **tags,
            },
        )
        return run.info.run_id if run is not None else None

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self._guarded(
            self.client.log_batch,
            run_id,
            params=[Param(k, _param_value(v)) for k, v in sorted(params.items())],
        )

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self._guarded(
            self.client.log_batch,
            run_id,
            tags=[RunTag(k, _param_value(v)) for k, v in tags.items()],
        )

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        now = get_current_time_millis()
        finite = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        if finite:
            self._guarded(self.client.log_batch, run_id, metrics=finite)

    def log_artifact(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self._guarded(self.client.log_artifact, run_id, str(path), artifact_path)

    def log_datasets(self, run_id: str, files: list[dict[str, Any]], context: str) -> None:
        """The data files (TrainResult.data_files) as the run's dataset inputs ("Datasets").

        The digest is the fingerprint of the structures read from the file
        (:meth:`~lightning_modules.data.atoms.AtomsData.fingerprint`).
        """
        inputs = [
            DatasetInput(
                Dataset(
                    name=Path(file["path"]).name,
                    digest=file["digest"][:DIGEST_LENGTH],
                    source_type="local",
                    source=json.dumps({"uri": file["path"]}),
                    profile=json.dumps(
                        {"num_structures": file["n_structures"], "elements": file["elements"]}
                    ),
                ),
                tags=[InputTag("mlflow.data.context", context)],
            )
            for file in files
        ]
        if inputs:
            self._guarded(self.client.log_inputs, run_id, datasets=inputs)

    def log_model(self, run_id: str, checkpoint: str | Path, example: dict[str, Any]) -> None:
        """The checkpoint as the run's ``model`` artifact (:mod:`hpo.tracking.model_flavour`)."""
        from hpo.tracking.model_flavour import log_potential_model

        self._guarded(log_potential_model, self.client, run_id, checkpoint, example)

    def log_dict(self, run_id: str, values: dict[str, Any], name: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_text(json.dumps(values, indent=1, default=str))
            self._guarded(self.client.log_artifact, run_id, str(path))

    def end_run(self, run_id: str, status: str, optuna_state: str | None = None) -> None:
        """End a run as FINISHED, FAILED or KILLED; a trial's run is tagged with its Optuna state."""
        if optuna_state is not None:
            self.set_tags(run_id, {OPTUNA_STATE_TAG: optuna_state})
        self._guarded(
            self.client.set_terminated,
            run_id,
            status=RunStatus.to_string(RunStatus.from_string(status)),
        )


def context_tags() -> dict[str, str]:
    """MLflow's own source, user and git tags for a run made here (what its fluent API sets).

    The source is the ``pesweep`` command (or the script that called pesweep), the
    user the login name, and the git commit the one of the repository it runs in.
    """
    from mlflow.tracking.context.registry import resolve_tags

    return {k: str(v) for k, v in resolve_tags().items()}
