"""Shared mode: several workers on one PostgreSQL study, tracked by one MLflow server."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from hpo.tracking import PARENT_RUN_ATTR
from tests.hpo.services import MlflowServer, PostgresServer


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    folder = tmp_path_factory.mktemp("services")
    postgres = PostgresServer()
    try:
        studies = postgres.create_database("studies")
        mlflow_backend = postgres.create_database("mlflow")
        server = MlflowServer(mlflow_backend, folder)
        try:
            yield studies, server.url
        finally:
            server.stop()
    finally:
        postgres.stop()


def test_two_workers_share_one_study_and_one_parent_run(services, tiny_space, small_emt_file,
                                                        tmp_path) -> None:
    storage, tracking_uri = services
    command = [sys.executable, "-m", "hpo.cli", "sweep", "--study", "shared",
               "--space", str(tiny_space), "--data", str(small_emt_file),
               "--storage", storage, "--tracking-uri", tracking_uri,
               "--n-trials", "2", "--max-epochs", "2", "--sampler", "random", "--pruner", "none",
               "--no-progress-bar"]
    workers = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr
    study = optuna.load_study(study_name="shared", storage=storage)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 4
    parent = study.user_attrs[PARENT_RUN_ATTR]
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("shared")
    runs = client.search_runs([experiment.experiment_id])
    trial_runs = [r for r in runs if r.data.tags.get("pesweep.kind") == "trial"]
    parents = [r for r in runs if r.data.tags.get("pesweep.kind") == "study"]
    assert [r.info.run_id for r in parents] == [parent]
    assert len(trial_runs) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in trial_runs} == {parent}
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in trial_runs) == [0, 1, 2, 3]
    by_run = {t.user_attrs["mlflow_run_id"]: t for t in study.trials}
    for run in trial_runs:
        trial = by_run[run.info.run_id]
        assert run.data.metrics["best_val_energy_mae"] == pytest.approx(trial.value, rel=1e-6)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "checkpoint" in artifacts


def test_dead_postgres_is_one_line(tmp_path, tiny_space, small_emt_file) -> None:
    from tests.hpo.services import free_port

    done = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "sweep", "--study", "x", "--space", str(tiny_space),
         "--data", str(small_emt_file), "--n-trials", "1",
         "--storage", f"postgresql+psycopg2://pesweep@127.0.0.1:{free_port()}/none"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("pesweep: error: cannot open the study storage postgresql")
    assert "start the database or check --storage" in last
