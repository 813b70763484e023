"""Ctrl-C and SIGTERM sent to a real ``pesweep sweep`` in the middle of a trial."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState


def wait_for_second_trial(storage: str, process: subprocess.Popen, seconds: float = 240) -> None:
    """Until trial 0 is COMPLETE and trial 1 is RUNNING with its MLflow run started."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            trials = optuna.load_study(study_name="stop", storage=storage).trials
        except Exception:  # the study or its storage is not made yet
            trials = []
        if (
            len(trials) == 2
            and trials[0].state == TrialState.COMPLETE
            and trials[1].state == TrialState.RUNNING
            and "mlflow_run_id" in trials[1].user_attrs
        ):
            time.sleep(1.0)  # well into its training
            return
        time.sleep(0.1)
    raise AssertionError("the sweep did not reach its second trial in time")


@pytest.mark.parametrize("number, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_the_running_trial_and_its_runs_cleanly(
    tmp_path, tiny_space, small_emt_file, number, exit_code
) -> None:
    storage = f"sqlite:///{tmp_path / 'pesweep.db'}"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hpo.cli",
            "sweep",
            "--study",
            "stop",
            "--space",
            str(tiny_space),
            "--data",
            str(small_emt_file),
            "--n-trials",
            "3",
            "--max-epochs",
            "40",
            "--sampler",
            "random",
            "--pruner",
            "none",
            "--storage",
            storage,
            "--tracking-uri",
            tracking,
            "--no-progress-bar",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_second_trial(storage, process)
        process.send_signal(number)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == exit_code, stderr
    name = signal.Signals(number).name
    assert stderr.strip().splitlines()[-1].startswith(f"pesweep: interrupted by {name}: ")
    study = optuna.load_study(study_name="stop", storage=storage)
    finished, stopped = study.trials
    assert finished.state == TrialState.COMPLETE
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs["fail_reason"] == "interrupted"
    client = MlflowClient(tracking)
    assert client.get_run(finished.user_attrs["mlflow_run_id"]).info.status == "FINISHED"
    killed = client.get_run(stopped.user_attrs["mlflow_run_id"])
    assert killed.info.status == "KILLED"
    assert killed.data.tags["fail_reason"] == "interrupted"
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    assert parent.info.status == "KILLED"
    assert parent.data.metrics["n_trials_complete"] == 1
