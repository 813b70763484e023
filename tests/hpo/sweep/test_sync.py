"""A tracking server that goes away mid-sweep: the sweep goes on, ``pesweep sync`` fills MLflow in."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from tests.support.services import MlflowServer, sweep_argv


# slow (one and a half minutes): two MLflow servers and a sweep across an outage
@pytest.mark.slow
def test_trials_go_on_without_the_server_and_sync_writes_each_run_once(
    tmp_path, tiny_space, small_emt_file
) -> None:
    backend = f"sqlite:///{tmp_path / 'mlflow-backend.db'}"
    server = MlflowServer(backend, tmp_path)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    command = sweep_argv(
        "outage",
        tiny_space,
        small_emt_file,
        storage,
        server.url,
        "--n-trials",
        "3",
        "--max-epochs",
        "12",
    )
    sweep = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert sweep.poll() is None and time.monotonic() < deadline
            try:
                trials = optuna.load_study(study_name="outage", storage=storage).trials
            except Exception:  # not created yet
                trials = []
            if len(trials) == 2 and len(trials[1].intermediate_values) >= 2:
                break
            time.sleep(0.05)
        server.stop()  # in the middle of trial 1
        _, stderr = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
        server.stop()
    assert sweep.returncode == 0, stderr
    assert "does not answer: trials go on" in stderr
    study = optuna.load_study(study_name="outage", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3

    server = MlflowServer(backend, tmp_path, port=server.port)
    try:
        sync = [sys.executable, "-m", "hpo.cli", "sync", "--study", "outage", "--storage", storage]
        first = subprocess.run(sync, cwd=tmp_path, capture_output=True, text=True)
        assert first.returncode == 0, first.stderr
        assert "1 runs created, 2 ended" in first.stdout  # trial 1 was cut off, 2 never began
        again = subprocess.run(sync, cwd=tmp_path, capture_output=True, text=True)
        assert "0 runs created, 0 ended, 0 metric values and 0 artifacts" in again.stdout
        client = MlflowClient(server.url)
        experiment = client.get_experiment_by_name("outage")
        runs = client.search_runs(
            [experiment.experiment_id], filter_string="tags.`pesweep.kind` = 'trial'"
        )
        assert sorted(int(r.data.tags["optuna.trial_number"]) for r in runs) == [0, 1, 2]
        for run in runs:
            trial = study.trials[int(run.data.tags["optuna.trial_number"])]
            assert run.info.status == "FINISHED"
            assert run.data.metrics["best_val_energy_mae_eV"] == trial.value
            steps = [
                m.step for m in client.get_metric_history(run.info.run_id, "val_energy_mae_eV")
            ]
            assert sorted(set(steps)) == list(range(12))
            assert "model" in {a.path for a in client.list_artifacts(run.info.run_id)}
        # the run sync made for trial 2 holds what a live run holds
        live, synced = (
            next(r for r in runs if r.data.tags["optuna.trial_number"] == n) for n in "02"
        )
        assert synced.data.tags["pesweep.synced"] == "true"
        assert set(synced.data.params) == set(live.data.params)
        for tag in (
            "optuna.sampler",
            "pesweep.data_hash",
            "pesweep.test_split_hash",
            "pesweep.checkpoint_sha256",
            "pesweep.element_references",
            "mlflow.user",
        ):
            assert synced.data.tags.get(tag), tag
        assert [i.dataset.name for i in synced.inputs.dataset_inputs] == [small_emt_file.name]
        figures = {a.path for a in client.list_artifacts(synced.info.run_id, "figures")}
        assert figures == {"figures/parity.svg", "figures/learning_curve.svg"}
        # promote finds the run sync made (Optuna keeps a finished trial's attributes as they
        # were, so trial 2 cannot record its new run)
        from hpo.workflows.promotion import _synced_run, registry_client

        assert "mlflow_run_id" not in study.trials[2].user_attrs
        assert _synced_run(registry_client(server.url), study, 2) == synced.info.run_id
        # the study's parent run ended, and promote works on the synced study
        parent = client.get_run(synced.data.tags["mlflow.parentRunId"])
        assert parent.info.status == "FINISHED"
        promoted = subprocess.run(
            [sys.executable, "-m", "hpo.cli", "promote", "--study", "outage", "--storage", storage]
            + ["--tracking-uri", server.url, "--model-name", "outage"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert promoted.returncode == 0, promoted.stderr
    finally:
        server.stop()
