"""Safe by default: nothing a user made is overwritten, nothing is created by a refused command.

Every case runs the real command (or the library call a command makes) on
tiny real data and checks the files and stores afterwards.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

import pesweep
from hpo.cli.main import build_parser
from hpo.runtime.errors import StudyError
from hpo.study.trial_record import trial_result
from hpo.sweep.runner import run_sweep
from tests.support.commands import run_cli
from tests.support.services import free_port, run_at_once

TINY_TRAIN = ("--model", "schnet", "--max-epochs", "1", "--batch-size", "30", "--no-progress-bar")


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def last_line(done: subprocess.CompletedProcess) -> str:
    return done.stderr.strip().splitlines()[-1]


def test_subset_never_writes_over_its_input_and_asks_before_replacing(
    tmp_path, small_emt_file, pesweep_in_process
) -> None:
    data = tmp_path / "c.xyz"
    data.write_bytes(small_emt_file.read_bytes())
    before = digests(tmp_path)
    done = pesweep_in_process(
        "subset", "--data", str(data), "--random", "20", "--out", str(data), "--force", cwd=tmp_path
    )
    assert done.returncode == 2
    assert (
        last_line(done) == f"pesweep: error: --out {data} is an input of this command; "
        "write elsewhere"
    )
    existing = tmp_path / "old.xyz"
    existing.write_text("a file the user made\n")
    before = digests(tmp_path)
    done = pesweep_in_process(
        "subset", "--data", str(data), "--random", "20", "--out", "old.xyz", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "old.xyz exists; choose another --out, or pass --force" in last_line(done)
    done = pesweep_in_process(
        "subset",
        "--data",
        str(data),
        "--elements",
        "Ag",
        "--mode",
        "only",
        "--out",
        "none.xyz",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert (
        "no structure matches --elements Ag --mode only; structures per element: Cu "
        in last_line(done)
    )
    assert digests(tmp_path) == before
    done = pesweep_in_process(
        "subset", "--data", str(data), "--random", "20", "--out", "old.xyz", "--force", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "20 of 60 structures written" in done.stdout


def test_train_and_finetune_never_replace_an_earlier_run(
    tmp_path, small_emt_file, monkeypatch, capsys
) -> None:
    from hpo.cli.main import main

    monkeypatch.chdir(tmp_path)  # in-process: the same main() as the console script, faster

    def pesweep(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        printed = capsys.readouterr()
        return code, printed.out, printed.err

    data = ("--data", str(small_emt_file))
    code, _, err = pesweep("train", *data, *TINY_TRAIN)
    assert code == 0, err
    first = tmp_path / "pesweep_runs" / "train"
    kept = digests(first)
    assert "best.ckpt" in kept
    code, out, err = pesweep("train", *data, *TINY_TRAIN)  # the default folder is taken
    assert code == 0, err
    assert (
        f"pesweep_runs/train holds an earlier run; writing to {Path('pesweep_runs/train-2')}"
        in (out)
    )
    assert (tmp_path / "pesweep_runs" / "train-2" / "best.ckpt").is_file()
    code, _, err = pesweep("train", *data, *TINY_TRAIN, "--output-dir", "pesweep_runs/train")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "pesweep: error: output folder pesweep_runs/train already holds "
        "files (an earlier run?); choose another --output-dir, or pass "
        "--overwrite to replace them"
    )
    assert digests(first) == kept
    checkpoint = str(first / "best.ckpt")
    for expected in ("pesweep_runs/finetune", "pesweep_runs/finetune-2"):
        code, _, err = pesweep("finetune", "--from", checkpoint, *data, "--max-epochs", "1")
        assert code == 0, err
        assert (tmp_path / expected / "best.ckpt").is_file()
    code, _, err = pesweep(
        "train",
        *data,
        *TINY_TRAIN,
        "--output-dir",
        "pesweep_runs/train",
        "--overwrite",
        "--seed",
        "1",  # training is reproducible: another seed makes a checkpoint that differs
    )
    assert code == 0, err
    assert digests(first)["best.ckpt"] != kept["best.ckpt"]


def test_two_studies_of_one_name_never_share_folders_or_experiments(
    sweep_options, tmp_path
) -> None:
    first = run_sweep(sweep_options(n_trials=1, storage=f"sqlite:///{tmp_path / 'a.db'}"))
    kept = digests(first.runs_dir)
    second = run_sweep(sweep_options(n_trials=1, storage=f"sqlite:///{tmp_path / 'b.db'}"))
    assert first.runs_dir != second.runs_dir
    assert first.runs_dir.parent == second.runs_dir.parent == tmp_path / "runs"
    assert digests(first.runs_dir) == kept
    assert Path(trial_result(first.study.trials[0])["checkpoint_path"]).is_relative_to(
        first.runs_dir
    )
    assert first.experiment_name == "test-study" != second.experiment_name
    client = MlflowClient(first.tracking.uri)
    for outcome in (first, second):
        experiment = client.get_experiment_by_name(outcome.experiment_name)
        runs = client.search_runs([experiment.experiment_id])
        assert {r.data.tags["pesweep.study_uid"] for r in runs} == {outcome.setup.study_uid}
    again = run_sweep(sweep_options(n_trials=1, storage=f"sqlite:///{tmp_path / 'a.db'}"))
    assert again.runs_dir == first.runs_dir and again.experiment_name == first.experiment_name


def test_a_study_name_cannot_lead_out_of_the_runs_folder(sweep_options, tmp_path) -> None:
    outside = tmp_path / "outside"
    runs = outside / "inside" / "runs"
    outcome = run_sweep(sweep_options(study_name="../../escape", n_trials=1, runs_dir=str(runs)))
    assert outcome.study.trials[0].state == TrialState.COMPLETE
    written = [p for p in outside.rglob("*") if p.is_file()]
    assert written and all(p.is_relative_to(runs) for p in written)
    assert outcome.runs_dir.parent == runs


def test_read_only_commands_create_no_store(tmp_path, pesweep_in_process) -> None:
    for args, message in (
        (("models", "list"), "no MLflow tracking store at"),
        (("models", "show", "seb"), "no MLflow tracking store at"),
        (("report", "--study", "s"), "no study storage at"),
        (("promote", "--study", "s"), "no study storage at"),
    ):
        done = pesweep_in_process(*args, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert last_line(done).startswith(f"pesweep: error: {message} {tmp_path}"), args
    import os

    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(
            FileNotFoundError,
            match=r"no MLflow tracking store at .*mlflow.db; pass --tracking-uri \(tracking_uri=\)",
        ):
            pesweep.load_potential("models:/seb@pretrained")
    finally:
        os.chdir(previous)
    assert list(tmp_path.iterdir()) == []


def test_models_load_once_into_the_cache_and_leave_nothing_in_tmp(
    sweep_options, tmp_path, monkeypatch
) -> None:
    import tempfile

    from hpo.workflows.promotion import promote_best_trial

    outcome = run_sweep(sweep_options(n_trials=1))
    promote_best_trial(outcome.study, outcome.tracking, "cuau")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    cache = tmp_path / "cache"
    monkeypatch.setenv("PESWEEP_CACHE_DIR", str(cache))
    for _ in range(3):
        pesweep.load_potential("models:/cuau@pretrained", tracking_uri=outcome.tracking)
    assert list(scratch.iterdir()) == []
    assert len(list(cache.iterdir())) == 1
    assert len(list(cache.rglob("*.ckpt"))) == 1


def test_bad_sweep_options_are_refused_before_anything_is_stored(
    tmp_path, tiny_space, small_emt_file
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    create = ("sweep", "--study", "s", "--space", str(tiny_space), "--data", str(small_emt_file))
    for flag, value in (
        ("--n-trials", "-3"),
        ("--max-epochs", "0"),
        ("--max-epochs", "-1"),
        ("--timeout", "0"),
    ):
        done = run_cli(*create, flag, value, cwd=work)
        assert done.returncode == 2
        assert f"argument {flag}: must be a positive" in last_line(done)
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"n_trials": -3},
        {"max_epochs": 0},
        {"max_epochs": -1},
        {"sampler": "bayes"},
        {"energy_unit": "rydberg"},
        {"train_overrides": {"batch_size": 0}},
    ],
)
def test_library_sweep_options_are_checked_first(sweep_options, tmp_path, changes) -> None:
    with pytest.raises(ValueError):
        run_sweep(sweep_options(**changes))
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "mlflow.db").exists()


def test_a_dead_tracking_store_is_one_line_within_seconds(
    tmp_path, tiny_space, small_emt_file
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    create = (
        "sweep",
        "--study",
        "s",
        "--space",
        str(tiny_space),
        "--data",
        str(small_emt_file),
        "--n-trials",
        "1",
        "--no-progress-bar",
    )
    for uri, message in (
        (f"http://127.0.0.1:{free_port()}", "no MLflow tracking server answers"),
        (
            f"postgresql://u:pw@127.0.0.1:{free_port()}/mlflow",
            "cannot connect to the MLflow tracking store",
        ),
    ):
        start = time.monotonic()
        done = run_cli(*create, "--tracking-uri", uri, cwd=work)
        assert time.monotonic() - start < 30
        assert done.returncode == 2
        assert last_line(done).startswith(f"pesweep: error: {message} "), done.stderr
        assert "pass another --tracking-uri" in last_line(done)
        assert ":pw@" not in done.stderr
    assert list(work.iterdir()) == []


def test_gpu_asked_for_without_one_is_one_line(tmp_path, small_emt_file) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    done = run_cli(
        "train", "--data", str(small_emt_file), "--accelerator", "gpu", *TINY_TRAIN, cwd=tmp_path
    )
    assert done.returncode == 2
    assert last_line(done) == (
        "pesweep: error: accelerator 'gpu' asked for, but torch finds no "
        "CUDA GPU on this machine; use --accelerator cpu (or auto)"
    )
    assert list(tmp_path.iterdir()) == []


def test_every_command_takes_one_case_insensitive_list_of_energy_units() -> None:
    parser = build_parser()
    for args in (
        ["sweep", "--study", "s"],
        ["compare", "--target", "t.xyz", "--from", "m"],
        ["train"],
        ["finetune", "--from", "m", "--data", "d.xyz"],
        ["audit", "d.xyz"],
        ["subset", "--data", "d.xyz", "--out", "o.xyz"],
        ["demo"],
    ):
        assert parser.parse_args([*args, "--energy-unit", "eV"]).energy_unit == "ev"
        assert parser.parse_args([*args, "--energy-unit", "Hartree"]).energy_unit == "hartree"
        with pytest.raises(SystemExit):
            parser.parse_args([*args, "--energy-unit", "rydberg"])


def test_a_model_name_with_quotes_is_one_line(tmp_path) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(tracking).search_experiments()  # an existing, empty store
    done = run_cli("models", "show", "se'b", "--tracking-uri", tracking, cwd=tmp_path)
    assert done.returncode == 2
    assert last_line(done).startswith('pesweep: error: model name "se\'b" is not allowed')


def test_two_promotions_at_once_both_succeed_with_one_version(sweep_options, tmp_path) -> None:
    outcome = run_sweep(sweep_options(n_trials=1))
    command = [
        sys.executable,
        "-m",
        "hpo.cli",
        "promote",
        "--study",
        "test-study",
        "--storage",
        f"sqlite:///{tmp_path / 'optuna.db'}",
        "--model-name",
        "cuau",
    ]
    run_at_once(command, tmp_path, timeout=300)
    client = MlflowClient(outcome.tracking.uri)
    versions = client.search_model_versions("name='cuau'")
    assert [str(v.version) for v in versions] == ["1"]
    assert str(client.get_model_version_by_alias("cuau", "pretrained").version) == "1"


def test_two_sweeps_started_together_in_a_fresh_folder_both_run(
    tmp_path, tiny_space, small_emt_file
) -> None:
    command = [
        sys.executable,
        "-m",
        "hpo.cli",
        "sweep",
        "--study",
        "together",
        "--space",
        str(tiny_space),
        "--data",
        str(small_emt_file),
        "--n-trials",
        "1",
        "--max-epochs",
        "1",
        "--sampler",
        "random",
        "--no-progress-bar",
    ]
    run_at_once(command, tmp_path, timeout=300)
    study = optuna.load_study(study_name="together", storage=f"sqlite:///{tmp_path}/pesweep.db")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2


def test_resume_of_a_missing_study_creates_no_storage(tmp_path) -> None:
    with pytest.raises(StudyError, match="no study 'absent': there is no storage at"):
        from hpo.sweep.options import SweepOptions

        run_sweep(SweepOptions(study_name="absent", storage=f"sqlite:///{tmp_path / 'x.db'}"))
    assert list(tmp_path.iterdir()) == []
