"""``pesweep sweep --workers K``: K processes on one SQLite study, one bar, no locked database."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from hpo.runtime.errors import StudyError
from hpo.sweep.workers import parse_devices, trial_shares


def test_trials_and_devices_are_shared_out(monkeypatch) -> None:
    assert trial_shares(5, 2) == [3, 2]
    assert trial_shares(1, 3) == [1, 0, 0]
    assert trial_shares(None, 2) == [None, None]
    with pytest.raises(StudyError, match="--devices takes GPU numbers"):
        parse_devices("cuda:0")
    monkeypatch.setattr("hpo.sweep.workers.gpu_count", lambda: 2)
    assert parse_devices("0, 1") == ("0", "1")
    with pytest.raises(StudyError, match="this machine has 2 CUDA GPUs, so GPU 2 does not exist"):
        parse_devices("1,2")


def test_the_parent_of_the_workers_imports_no_training_library() -> None:
    """It only starts workers and watches the study: torch's import is seconds of start-up."""
    code = (
        "import sys, hpo.cli, hpo.cli.commands.sweep, hpo.sweep.workers, hpo.sweep.options; "
        "print(sorted(m for m in ('torch', 'lightning', 'mlflow') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


def test_two_local_workers_run_one_sqlite_study(tmp_path, tiny_space, small_emt_file) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpo.cli",
            "sweep",
            "--study",
            "local",
            "--space",
            str(tiny_space),
            "--data",
            str(small_emt_file),
            "--workers",
            "2",
            "--n-trials",
            "4",
            "--max-epochs",
            "3",
            "--sampler",
            "random",
            "--pruner",
            "none",  # which trial a median pruner stops depends on the workers' timing
            "--storage",
            storage,
            "--tracking-uri",
            tracking,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "database is locked" not in result.stderr
    assert "2 workers on study 'local'" in result.stderr
    assert "[worker 0]" in result.stderr and "[worker 1]" in result.stderr
    assert result.stderr.count("study local: ") >= 1  # the parent's one bar over the study
    assert "study 'local': 4 complete" in result.stdout
    study = optuna.load_study(study_name="local", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    runs = MlflowClient(tracking).search_runs(
        [MlflowClient(tracking).get_experiment_by_name("local").experiment_id]
    )
    trial_runs = [r for r in runs if r.data.tags.get("pesweep.kind") == "trial"]
    assert sorted(r.info.run_id for r in trial_runs) == sorted(
        t.user_attrs["mlflow_run_id"] for t in study.trials
    )
    assert {r.info.status for r in trial_runs} == {"FINISHED"}


def test_workers_end_with_their_parent_even_after_kill_9(
    tmp_path, tiny_space, small_emt_file
) -> None:
    import signal
    import time

    psutil = pytest.importorskip("psutil")
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    parent = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "sweep", "--study", "orphans", "--space", str(tiny_space)]
        + ["--data", str(small_emt_file), "--workers", "2", "--n-trials", "40"]
        + ["--max-epochs", "50", "--storage", storage]
        + ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    workers: list = []
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = [
            p
            for p in psutil.Process(parent.pid).children()
            if "spawn_main" in " ".join(p.cmdline())
        ]
    assert len(workers) == 2, "the workers did not start"
    time.sleep(3)  # past their start-up
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=60)
    assert not alive, f"workers outlived their parent: {alive}"
