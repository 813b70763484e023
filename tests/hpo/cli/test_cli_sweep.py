"""``pesweep sweep`` and ``pesweep spaces`` from the command line."""

from __future__ import annotations

import optuna
import pytest

from tests.support.commands import run_cli


def test_sweep_on_missing_or_malformed_data_fails_before_any_trial(
    tmp_path, tiny_space, pesweep_in_process
) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"this is not an npz archive")
    for data, message in (
        ("absent.npz", "absent.npz: no such file"),
        (str(broken), "not an npz file"),
    ):
        done = pesweep_in_process(
            "sweep",
            "--study",
            "s",
            "--space",
            str(tiny_space),
            "--data",
            data,
            "--n-trials",
            "1",
            cwd=tmp_path,
        )
        assert done.returncode == 2
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("pesweep: error: ") and message in last
    assert not (tmp_path / "pesweep.db").exists()


def first_sweep(tmp_path, tiny_space, small_emt_file) -> None:
    """``pesweep sweep`` of two trials; the commands it prints work from any folder."""
    args = (
        "sweep",
        "--study",
        "cli",
        "--space",
        str(tiny_space),
        "--data",
        str(small_emt_file),
        "--n-trials",
        "2",
        "--max-epochs",
        "2",
        "--no-progress-bar",
    )
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "best trial" in done.stdout
    assert "Warning" not in done.stderr, done.stderr  # no library's notes printed as ours
    for chatter in ("GPU available", "litlogger", "INFO"):  # Lightning's and MLflow's info lines
        assert chatter not in done.stderr, done.stderr
    # the printed commands work from any folder: absolute store paths
    assert f"optuna-dashboard sqlite:///{tmp_path.resolve() / 'pesweep.db'}" in done.stdout
    assert f"pesweep ui --storage sqlite:///{tmp_path.resolve() / 'pesweep.db'}" in done.stdout
    assert "#/experiments/1/runs?orderByKey=metrics.%60best_val_energy_mae_eV%60" in done.stdout


def test_sweep_command_prints_absolute_store_urls(tmp_path, tiny_space, small_emt_file) -> None:
    first_sweep(tmp_path, tiny_space, small_emt_file)


# slow (about 90 s of CLI processes): resuming a study is also checked in-process in
# tests/hpo/sweep/test_sweep.py, promotion and rollback in tests/hpo/workflows/test_promotion.py
@pytest.mark.slow
def test_sweep_command_and_resume_by_name(tmp_path, tiny_space, small_emt_file) -> None:
    first_sweep(tmp_path, tiny_space, small_emt_file)
    done = run_cli("sweep", "--study", "cli", "--n-trials", "1", "--no-progress-bar", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="cli", storage=f"sqlite:///{tmp_path / 'pesweep.db'}")
    assert len(study.trials) == 3
    assert (tmp_path / "mlflow.db").exists()
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = run_cli("promote", "--study", "cli", "--model-name", "cuau", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cuau version 1 is now @pretrained" in done.stdout
    done = run_cli("models", "list", "--tracking-uri", tracking, cwd=tmp_path)
    assert "cuau v1 @pretrained" in done.stdout
    done = run_cli(
        "promote", "--rollback", "--model-name", "cuau", "--tracking-uri", tracking, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "pesweep: error: cuau has no @pretrained-previous to roll back to"
    )
    done = run_cli("promote", "--rollback", cwd=tmp_path)
    assert done.stderr.strip().splitlines()[-1] == (
        "pesweep: error: --rollback needs --model-name (the registered model)"
    )


# slow (five CLI processes): the spaces themselves are checked in tests/search_spaces
@pytest.mark.slow
def test_spaces_list_show_check(tmp_path, tiny_space) -> None:
    done = run_cli("spaces", "list", cwd=tmp_path)
    assert "schnet_table1" in done.stdout and "demo" in done.stdout
    done = run_cli("spaces", "show", "schnet_table1", cwd=tmp_path)
    assert "n_embedding" in done.stdout
    done = run_cli("spaces", "check", str(tiny_space), cwd=tmp_path)
    assert done.returncode == 0
    assert "no grid search: grid search needs a step for float parameter 'lr'" in done.stdout
    done = run_cli("spaces", "check", "schnet_table1", cwd=tmp_path)
    assert f"full grid: {5 * 9 * 5 * 5 * 5 * 4 * 2 * 2} points" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: schnet\nparams:\n  n_atom_basis: {type: int, low: 64, high: 8}\n")
    done = run_cli("spaces", "check", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert "`low <= high` must hold, but got (low=64, high=8)" in done.stderr


def test_a_second_demo_says_it_adds_to_the_first(tmp_path, tiny_space, pesweep_in_process) -> None:
    demo = ["demo", "--workdir", "w", "--space", str(tiny_space), "--n-trials", "1"]
    demo += ["--max-epochs", "1", "--n-structures", "40"]
    first = pesweep_in_process(*demo, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "earlier demo" not in first.stdout
    second = pesweep_in_process(*demo, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "has 1 trials from an earlier demo: adding 1 more (--study NAME starts a fresh one)" in (
        second.stdout
    )
