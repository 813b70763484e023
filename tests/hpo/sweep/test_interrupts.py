"""Ctrl-C, SIGTERM and Slurm's SIGUSR1 sent to a real ``pesweep sweep`` in the middle of a trial."""

from __future__ import annotations

import signal
import subprocess
import time

import optuna
import pytest
import torch
from mlflow import MlflowClient
from optuna.trial import TrialState

from tests.support.services import sweep_argv


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


@pytest.mark.parametrize(
    "number, exit_code, reason",
    [
        # slow: SIGINT ends the trial as SIGUSR1 does (below), only its reason and status differ
        pytest.param(signal.SIGINT, 130, "interrupted", marks=pytest.mark.slow),
        # slow: SIGTERM takes the same path as SIGUSR1 but mid-epoch; Slurm's scancel sends it
        # in the array test (test_schedule.py)
        pytest.param(signal.SIGTERM, 143, "preempted", marks=pytest.mark.slow),
        (signal.SIGUSR1, 0, "preempted"),
    ],
)
def test_a_signal_ends_the_running_trial_and_its_runs_cleanly(
    tmp_path, tiny_space, small_emt_file, number, exit_code, reason
) -> None:
    storage = f"sqlite:///{tmp_path / 'pesweep.db'}"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    process = subprocess.Popen(
        sweep_argv(
            "stop",
            tiny_space,
            small_emt_file,
            storage,
            tracking,
            "--n-trials",
            "3",
            "--max-epochs",
            "40",
        ),
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
    finished, stopped, *retries = study.trials
    assert finished.state == TrialState.COMPLETE
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs["fail_reason"] == reason
    if reason == "preempted":  # enqueued again, to resume from the stopped trial's last.ckpt
        (retry,) = retries
        assert retry.state == TrialState.WAITING
        assert retry.system_attrs["fixed_params"] == stopped.params  # how Optuna enqueues
        assert retry.user_attrs["retry_of"] == stopped.number
        assert retry.user_attrs["resume_from"] == f"{stopped.user_attrs['output_dir']}/last.ckpt"
        saved_epoch = torch.load(retry.user_attrs["resume_from"], weights_only=False)["epoch"]
        reported = max(stopped.intermediate_values)
        if number == signal.SIGUSR1:  # the signalled epoch was finished and checkpointed
            assert saved_epoch == reported
        else:  # cut at a batch: at most the current epoch is lost
            assert saved_epoch in (reported - 1, reported)
    else:  # a person stopped it: not retried
        assert retries == []
    client = MlflowClient(tracking)
    assert client.get_run(finished.user_attrs["mlflow_run_id"]).info.status == "FINISHED"
    killed = client.get_run(stopped.user_attrs["mlflow_run_id"])
    assert killed.info.status == "KILLED"
    assert killed.data.tags["fail_reason"] == reason
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    assert parent.info.status == "KILLED"
    assert parent.data.metrics["n_trials_complete"] == 1
