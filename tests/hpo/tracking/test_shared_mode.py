"""Shared mode: several workers on one PostgreSQL study, tracked by one MLflow server."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from hpo.study.setup import PARENT_RUN_ATTR
from tests.support.services import MlflowServer, postgres_server, run_at_once


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    folder = tmp_path_factory.mktemp("services")
    postgres = postgres_server()
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


# slow: two workers on one PostgreSQL study also run in the Slurm array test (test_schedule.py)
@pytest.mark.slow
def test_two_workers_share_one_study_and_one_parent_run(
    services, tiny_space, small_emt_file, tmp_path
) -> None:
    storage, tracking_uri = services
    command = [
        sys.executable,
        "-m",
        "hpo.cli",
        "sweep",
        "--study",
        "shared",
        "--space",
        str(tiny_space),
        "--data",
        str(small_emt_file),
        "--storage",
        storage,
        "--tracking-uri",
        tracking_uri,
        "--n-trials",
        "2",
        "--max-epochs",
        "2",
        "--sampler",
        "random",
        "--pruner",
        "none",
        "--no-progress-bar",
    ]
    run_at_once(command, tmp_path, timeout=600)
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
        assert run.data.metrics["best_val_energy_mae_eV"] == pytest.approx(trial.value, rel=1e-6)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "model" in artifacts


def test_dead_postgres_is_one_line(tmp_path, tiny_space, small_emt_file) -> None:
    from tests.support.services import free_port

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpo.cli",
            "sweep",
            "--study",
            "x",
            "--space",
            str(tiny_space),
            "--data",
            str(small_emt_file),
            "--n-trials",
            "1",
            "--storage",
            f"postgresql+psycopg2://pesweep@127.0.0.1:{free_port()}/none",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("pesweep: error: cannot open the study storage postgresql")
    assert "start the database or check --storage" in last


def test_no_password_leaves_the_process(
    services, tiny_space, small_emt_file, tmp_path, monkeypatch
) -> None:
    """A plain postgresql:// storage with a password in its URL, and a tracking server whose
    user and password are MLflow's own variables.

    The test server trusts loopback, so the passwords are accepted and ignored;
    they must appear in no output, Optuna attribute, MLflow tag, param or
    artifact. A server URL with the password in it is refused before anything
    is made (it would stand in the process list).
    """
    import json
    import os

    storage, tracking_uri = services
    secret, tracking_secret = "S3cret-storage", "pw-tracking"
    host = storage.split("@", 1)[1]
    storage_url = f"postgresql://pesweep:{secret}@{host}"  # SQLAlchemy's default driver
    base = [
        sys.executable,
        "-m",
        "hpo.cli",
        "sweep",
        "--study",
        "secret",
        "--storage",
        storage_url,
        "--n-trials",
        "1",
        "--no-progress-bar",
    ]
    new_study = [
        "--space",
        str(tiny_space),
        "--data",
        str(small_emt_file),
        "--max-epochs",
        "1",
        "--tracking-uri",
    ]
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    }
    in_url = tracking_uri.replace("http://", f"http://alice:{tracking_secret}@")
    refused = subprocess.run(
        [*base, *new_study, in_url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        f"pesweep: error: the tracking server URL {in_url.replace(tracking_secret, '***')} "
        f"(--tracking-uri) holds a password; give the URL without it and the user and "
        f"password in $MLFLOW_TRACKING_USERNAME and $MLFLOW_TRACKING_PASSWORD (MLflow's "
        f"basic-auth settings)"
    )
    with pytest.raises(KeyError):  # refused before the study was made
        optuna.load_study(study_name="secret", storage=storage)
    credentials = {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": tracking_secret}
    done = subprocess.run(
        [*base, *new_study, tracking_uri],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**environment, **credentials},
    )
    assert done.returncode == 0, done.stderr
    printed = refused.stdout + refused.stderr + done.stdout + done.stderr
    assert "pesweep:***@" in printed
    # a resume by name finds the tracking server in the study's record (it holds no password)
    resumed = subprocess.run(
        base,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**environment, **credentials},
    )
    assert resumed.returncode == 0, resumed.stderr
    printed += resumed.stdout + resumed.stderr
    study = optuna.load_study(study_name="secret", storage=storage)
    assert len(study.trials) == 2
    backend, study_id = study._storage, study._study_id
    stored = [study.user_attrs, backend.get_study_system_attrs(study_id)]  # dashboard notes
    for trial in study.trials:
        stored += [trial.user_attrs, trial.system_attrs]
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("secret")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3
    artifacts = tmp_path / "artifacts"
    for run in runs:
        stored += [run.data.tags, run.data.params]
        client.download_artifacts(run.info.run_id, "", str(artifacts / run.info.run_id))
    text = printed + json.dumps(stored, default=str)
    text += "".join(p.read_bytes().decode("latin-1") for p in artifacts.rglob("*") if p.is_file())
    assert "study_setup.json" in {p.name for p in artifacts.rglob("*")}
    for word in (secret, tracking_secret):
        where = text.find(word)
        assert where < 0, text[max(0, where - 300) : where + 50]
