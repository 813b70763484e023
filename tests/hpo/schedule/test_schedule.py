"""Scheduled sweeps: a spec, a real Slurm job array of workers, cron top-ups under a lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

from hpo.runtime.errors import StudyError
from hpo.schedule.cron import crontab_line
from hpo.schedule.lock import study_lock
from hpo.schedule.slurm import job_script
from hpo.schedule.spec import load_spec, slurm_seconds
from tests.support.commands import run_cli
from tests.support.services import postgres_binary, postgres_server
from tests.support.slurm import SlurmCluster, missing_binaries


def write_spec(folder: Path, space: Path, data: Path, **changes) -> Path:
    values = {
        "study": "nightly",
        "storage": "sqlite:///optuna.db",
        "tracking_uri": f"sqlite:///{folder / 'mlflow.db'}",
        "space": str(space),
        "data": [str(data)],
        "max_epochs": 2,
        "sampler": "random",
        "pruner": "none",
        "trials_per_run": 2,
        "runs_dir": "runs",
        "slurm": {"time": "00:10:00", "cpus_per_task": 1, "array": 2, "signal_margin": 60},
    }
    values.update(changes)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_a_spec_is_checked_before_anything_is_made(tmp_path, tiny_space, small_emt_file) -> None:
    assert slurm_seconds("1-02:03:04") == 93784
    assert slurm_seconds("30") == 1800
    spec = write_spec(tmp_path, tiny_space, small_emt_file, storage="postgresql://u:secret@h/db")
    with pytest.raises(StudyError, match="holds a password") as error:
        load_spec(spec)
    assert "secret" not in str(error.value)
    write_spec(tmp_path, tiny_space, small_emt_file, epochs=3)
    with pytest.raises(StudyError, match="unknown key"):
        load_spec(spec)
    write_spec(tmp_path, tiny_space, small_emt_file, slurm={"time": "00:01:00"})
    with pytest.raises(StudyError, match="signal_margin"):
        load_spec(spec)
    write_spec(tmp_path, tiny_space, small_emt_file)
    loaded = load_spec(spec)
    script = job_script(loaded, tmp_path / "logs")
    assert "#SBATCH --array=0-1" in script
    assert "#SBATCH --signal=B:USR1@60" in script
    assert script.rstrip().endswith(f"schedule worker {spec}")
    assert loaded.slurm.worker_timeout == 540
    line = crontab_line(loaded, "0 2 * * *", tmp_path / "cron.log")
    assert line.startswith(f"0 2 * * * cd {tmp_path} && ")
    assert line.endswith(f"schedule run {spec} >> {tmp_path / 'cron.log'} 2>&1")
    with pytest.raises(StudyError, match="not a cron schedule"):
        crontab_line(loaded, "daily", tmp_path / "cron.log")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml", "tiny.yaml"]  # nothing made


# slow: two full `schedule run` processes; the lock's message is what it checks
@pytest.mark.slow
def test_two_schedule_runs_at_once_one_runs_one_names_the_holder(
    tmp_path, tiny_space, small_emt_file
) -> None:
    spec = write_spec(tmp_path, tiny_space, small_emt_file, max_epochs=30)
    command = [sys.executable, "-m", "hpo.cli", "schedule", "run", str(spec)]
    first = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    lock = tmp_path / "runs" / "nightly.lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text()):
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    second = run_cli("schedule", "run", str(spec), cwd=tmp_path)
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0
    assert second.returncode == 0, second.stderr
    assert f"is being run by pid {first.pid} on " in second.stdout
    assert "study 'nightly': 2 complete" in out
    with study_lock(load_spec(spec)):  # the lock went with its holder
        assert lock.read_text().startswith(f'{{"pid": {os.getpid()}')


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    missing = missing_binaries()
    if missing:
        pytest.skip(
            f"Slurm is not installed ({', '.join(missing)} missing): apt install slurm-wlm munge"
        )
    if os.geteuid() != 0:
        pytest.skip("the one-node test cluster runs its daemons as root")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def postgres_storage():
    if postgres_binary("pg_ctl") is None:
        pytest.skip("PostgreSQL is not installed (pg_ctl missing)")
    server = postgres_server()
    try:
        yield server.create_database("scheduled")
    finally:
        server.stop()


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_slurm_array_of_workers_survives_a_cancelled_task(
    slurm, postgres_storage, tmp_path, tiny_space, small_emt_file
) -> None:
    spec = write_spec(
        tmp_path,
        tiny_space,
        small_emt_file,
        storage=postgres_storage,
        max_epochs=25,
        study_trials=3,
    )
    submitted = run_cli(
        "schedule", "slurm", str(spec), "--submit", cwd=tmp_path, env=slurm.environment
    )
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.split("submitted job ")[1].split()[0]

    def study() -> optuna.Study | None:
        try:
            return optuna.load_study(study_name="nightly", storage=postgres_storage)
        except Exception:  # not created yet
            return None

    def trial_of_task_0_is_running() -> bool:
        current = study()
        return current is not None and any(
            t.state == TrialState.RUNNING
            and t.user_attrs.get("slurm_job") == f"{job}_0"
            and len(t.intermediate_values) >= 3
            for t in current.trials
        )

    wait_until(trial_of_task_0_is_running, 240, "a trial of array task 0")
    assert slurm.run("scancel", f"{job}_0").returncode == 0
    wait_until(lambda: not slurm.run("squeue", "-h", "-j", job).stdout.strip(), 400, "the job")

    trials = study().trials  # type: ignore[union-attr]
    logs = sorted(p.name for p in (tmp_path / "runs" / "slurm-logs").iterdir())
    assert logs == [f"pesweep-nightly-{job}_0.out", f"pesweep-nightly-{job}_1.out"]
    cancelled = [t for t in trials if t.user_attrs.get("fail_reason") == "preempted"]
    assert len(cancelled) == 1 and cancelled[0].user_attrs["slurm_job"] == f"{job}_0"
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == cancelled[0].number]
    assert retry.state == TrialState.COMPLETE
    assert retry.user_attrs["slurm_job"] == f"{job}_1"  # the task left picked it up
    assert min(retry.intermediate_values) == retry.user_attrs["resumed_at_epoch"] >= 2
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= 3
    assert {t.user_attrs.get("slurm_job") for t in trials} == {f"{job}_0", f"{job}_1"}
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    for trial in trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert (
            run.info.status
            == {
                TrialState.COMPLETE: "FINISHED",
                TrialState.FAIL: "KILLED",
                TrialState.PRUNED: "KILLED",
            }[trial.state]
        )


def test_a_password_file_with_url_special_characters_makes_a_whole_url(
    tmp_path, tiny_space, small_emt_file
) -> None:
    from sqlalchemy.engine import make_url

    from hpo.tracking.stores import mask_url

    password = "p@ss:w/rd?#%&= +[]"
    (tmp_path / "pw").write_text(password + "\n")
    spec = load_spec(
        write_spec(
            tmp_path,
            tiny_space,
            small_emt_file,
            storage="postgresql://alice@db.example:5432/studies",
            storage_password_file="pw",
        )
    )
    url = spec.storage_url()
    parsed = make_url(url)
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "alice",
        password,
        "db.example",
        5432,
        "studies",
    )
    masked = mask_url(url)
    assert masked == "postgresql://alice:***@db.example:5432/studies"
    # a password written into a URL unquoted is hidden whole, up to the host
    assert mask_url("postgresql://alice:p@ss:w@db/x failed") == "postgresql://alice:***@db/x failed"


def test_a_run_that_finds_the_lock_held_says_so_before_importing_torch(
    tmp_path, tiny_space, small_emt_file
) -> None:
    spec = write_spec(tmp_path, tiny_space, small_emt_file)
    code = (
        "import sys; from hpo.cli.main import main; status = main(['schedule', 'run', sys.argv[1]]); "
        "print('heavy:', sorted(m for m in ('torch', 'lightning', 'mlflow') if m in sys.modules)); "
        "sys.exit(status)"
    )
    with study_lock(load_spec(spec)):
        done = subprocess.run(
            [sys.executable, "-c", code, str(spec)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert f"is being run by pid {os.getpid()} on " in done.stdout
    assert "heavy: []" in done.stdout
