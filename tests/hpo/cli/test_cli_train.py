"""``pesweep train`` and ``pesweep audit`` as a user runs them."""

from __future__ import annotations

import numpy as np
import yaml

from tests.support.commands import run_cli
from tests.support.data import shared_file


def test_train_from_config_file(emt_file, tmp_path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": [str(emt_file)],
                "model": "schnet",
                "model_config": {
                    "n_atom_basis": 16,
                    "n_interactions": 2,
                    "n_rbf": 8,
                    "cutoff": 4.5,
                },
                "alpha": 0.3,
                "max_epochs": 2,
                "batch_size": 32,
            }
        )
    )
    done = run_cli(
        "train", "--config", str(config), "--output-dir", "out", "--no-progress-bar",
        "--loss", "mae", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # the flag overrides the file (rmse by default); the checkpoint trains on with it
    assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())["loss"] == "mae"
    from lightning_modules.training.task import load_task

    assert load_task(tmp_path / "out" / "best.ckpt").hparams["loss"] == "mae"
    assert "test_energy_mae_eV [eV, full set]" in done.stdout
    assert "test_force_mae_eV_per_A_clean [eV/A, audit-clean subset]" in done.stdout
    assert "MLflow run " in done.stdout and "(experiment 'train')" in done.stdout
    assert (tmp_path / "out" / "best.ckpt").exists()
    assert (tmp_path / "out" / "split.npz").exists()
    # the audit in one line; its table per composition is for `pesweep audit` and -v
    assert done.stderr.count("audit: ") == 1 and "E - E_min" not in done.stderr


def test_the_loss_flags_of_train_and_sweep(tmp_path) -> None:
    from hpo.cli.commands.sweep import _sweep_options
    from hpo.cli.main import build_parser

    sweep = ["sweep", "--study", "s", "--space", "demo", "--data", "x.xyz"]
    parser = build_parser()
    assert _sweep_options(parser.parse_args([*sweep, "--loss", "mae"])).train_overrides == {
        "loss": "mae"
    }
    assert "loss" not in _sweep_options(parser.parse_args(sweep)).train_overrides
    for command in (sweep, ["train", "--data", "x.xyz"]):
        done = run_cli(*command, "--loss", "huber", cwd=tmp_path)
        assert done.returncode == 2
        assert "argument --loss: invalid choice: 'huber' (choose from" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_train_missing_data_is_one_line(tmp_path, pesweep_in_process) -> None:
    done = pesweep_in_process("train", "--data", "absent.npz", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"pesweep: error: absent.npz: no such file; check the path (relative to {tmp_path})"
    )


def test_audit_reports_seb20(tmp_path) -> None:
    path = shared_file("seb_clusters/SeBn/B=20.npz")
    done = run_cli("audit", str(path), "--energy-unit", "hartree", "--json", "a.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    energy = np.load(path)["E"][:, 0] * 27.211386
    expected = int(((energy - energy.min()) / 21 > 5.0).sum())
    assert f"{expected} of 2000 structures flagged: more than 5 eV/atom above the lowest" in (
        done.stdout
    )
    assert (tmp_path / "a.json").exists()


def test_train_with_a_dead_tracking_server_stops_before_anything_is_made(
    small_emt_file, tmp_path, pesweep_in_process
) -> None:
    done = pesweep_in_process(
        "train",
        "--data",
        str(small_emt_file),
        "--output-dir",
        str(tmp_path / "out"),
        "--tracking-uri",
        "http://127.0.0.1:1",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("pesweep: error: ")
    assert not (tmp_path / "out").exists()
    plain = pesweep_in_process(
        "train",
        "--data",
        str(small_emt_file),
        "--max-epochs",
        "1",
        "--no-tracking",
        "--output-dir",
        str(tmp_path / "plain"),
        cwd=tmp_path,
    )
    assert plain.returncode == 0, plain.stderr
    assert "MLflow run" not in plain.stdout and not (tmp_path / "mlflow.db").exists()
