"""A worker killed with ``kill -9`` mid-trial: the next worker fails it, retries it, resumes it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
import torch
from mlflow import MlflowClient
from optuna.trial import TrialState

from hpo.study.trial_record import trial_result
from tests.support.checkpoints import Planted
from tests.support.services import postgres_server, sweep_argv

GRACE_SECONDS = 2


@pytest.fixture(scope="module")
def postgres():
    server = postgres_server()
    try:
        yield server
    finally:
        server.stop()


def sweep_command(storage: str, tracking: str, space: Path, data: Path, *extra: str) -> list[str]:
    return sweep_argv(
        "lost",
        space,
        data,
        storage,
        tracking,
        "--max-epochs",
        "30",
        "--heartbeat-interval",
        "1",
        "--grace-period",
        str(GRACE_SECONDS),
        *extra,
    )


def kill_during_first_trial(storage: str, process: subprocess.Popen, epochs: int = 3) -> None:
    """SIGKILL once trial 0 has reported ``epochs`` epochs (its worker cannot clean up)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            trials = optuna.load_study(study_name="lost", storage=storage).trials
        except Exception:  # the study or its storage is not made yet
            trials = []
        if trials and len(trials[0].intermediate_values) >= epochs:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            return
        time.sleep(0.05)
    raise AssertionError("the first trial did not get far enough in time")


@pytest.mark.parametrize(
    "backend",
    # PostgreSQL's retry path also runs in the Slurm test (tests/hpo/schedule/test_schedule.py)
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)],
)
def test_a_killed_worker_s_trial_is_retried_from_its_last_epoch(
    backend, request, tmp_path, tiny_space, small_emt_file
) -> None:
    if backend == "sqlite":
        storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    else:
        storage = request.getfixturevalue("postgres").create_database("lost")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = sweep_command(storage, tracking, tiny_space, small_emt_file)
    first = subprocess.Popen(
        [*command, "--n-trials", "1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        kill_during_first_trial(storage, first)
    finally:
        first.kill()
    time.sleep(GRACE_SECONDS + 1.5)  # the dead trial's heartbeat is older than the grace period
    second = subprocess.run(
        [*command, "--study-trials", "2"], cwd=tmp_path, capture_output=True, text=True
    )
    assert second.returncode == 0, second.stderr
    assert "trial 0 sent no heartbeat for the grace period" in second.stderr

    study = optuna.load_study(study_name="lost", storage=storage)
    lost, retry, fresh = study.trials
    assert [lost.state, retry.state, fresh.state] == [TrialState.FAIL, *[TrialState.COMPLETE] * 2]
    assert retry.params == lost.params
    assert retry.user_attrs["retry_of"] == 0
    assert retry.user_attrs["retry_reason"] == "worker lost"
    assert retry.user_attrs["output_dir"] == lost.user_attrs["output_dir"]
    # it went on from the lost trial's last checkpoint: at most the epoch cut short is repeated
    resumed = retry.user_attrs["resumed_at_epoch"]
    assert max(lost.intermediate_values) <= resumed <= max(lost.intermediate_values) + 1
    assert min(retry.intermediate_values) == resumed
    assert max(retry.intermediate_values) == 29
    assert trial_result(retry)["epochs"] == 30  # the learning curve holds the lost trial's epochs
    best = torch.load(trial_result(retry)["checkpoint_path"], weights_only=False)
    assert best["epoch"] < 30

    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("lost")
    runs = client.search_runs([experiment.experiment_id])
    trial_runs = [r for r in runs if r.data.tags.get("pesweep.kind") == "trial"]
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in trial_runs) == [0, 1, 2]
    assert all(r.info.status != "RUNNING" for r in trial_runs)
    dead = client.get_run(lost.user_attrs["mlflow_run_id"])
    assert dead.info.status == "FAILED"
    assert dead.data.tags["fail_reason"] == "worker lost"
    continued = client.get_run(retry.user_attrs["mlflow_run_id"])
    assert continued.info.status == "FINISHED"
    assert continued.data.tags["pesweep.retry_of"] == "0"
    assert continued.data.tags["pesweep.retry_of_run"] == dead.info.run_id


def test_a_retry_never_unpickles_its_checkpoint_and_an_unreadable_one_starts_afresh(
    tmp_path, sweep_options
) -> None:
    import io

    from hpo.study.retries import OUTPUT_DIR, RESUME_FROM, RETRIES, RETRY_OF
    from hpo.sweep.runner import run_sweep

    run_sweep(sweep_options(n_trials=1))
    study = optuna.load_study(
        study_name="test-study", storage=f"sqlite:///{tmp_path / 'optuna.db'}"
    )
    first = study.trials[0].params
    marker = tmp_path / "code-ran"
    planted_file = io.BytesIO()
    torch.save({"epoch": 3, "state_dict": Planted(marker)}, planted_file)
    for name, content in (
        ("planted", planted_file.getvalue()),
        ("truncated", b"PK\x03\x04 half a zip file"),
    ):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "last.ckpt").write_bytes(content)
        params = {**first, "n_atom_basis": 24 - first["n_atom_basis"], "lr": first["lr"] * 1.01}
        attributes = {RETRY_OF: 0, RETRIES: 1, OUTPUT_DIR: str(folder)}
        study.enqueue_trial(
            params, user_attrs={**attributes, RESUME_FROM: str(folder / "last.ckpt")}
        )
    run_sweep(sweep_options(n_trials=2))
    planted, truncated = optuna.load_study(
        study_name="test-study", storage=f"sqlite:///{tmp_path / 'optuna.db'}"
    ).trials[1:3]
    assert not marker.exists()  # nothing in the planted file ran
    assert planted.state == TrialState.FAIL
    assert "holds objects a weights-only load refuses" in planted.user_attrs["fail_reason"]
    assert truncated.state == TrialState.COMPLETE  # trained from the first epoch, elsewhere
    assert "is not a readable checkpoint" in truncated.user_attrs["resume_refused"]
    assert "resumed_at_epoch" not in truncated.user_attrs
    assert Path(truncated.user_attrs[OUTPUT_DIR]).name == "trial-0002"
