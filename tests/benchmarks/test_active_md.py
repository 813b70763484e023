"""benchmarks/active_md.py: MD check, label, fine-tune rounds through pesweep's commands; resumable."""

from __future__ import annotations

import json

import ase.io
import pytest

from hpo.cli.main import main
from lightning_modules.data.emt_data import emt_clusters
from tests.support.commands import run_benchmark


@pytest.mark.slow  # a minute: two trainings, two MD checks, in fresh processes
def test_rounds_check_label_finetune_and_a_rerun_skips_them(small_emt_file, tmp_path) -> None:
    assert main(
        ["train", "--data", str(small_emt_file), "--max-epochs", "2", "--no-tracking"]
        + ["--output-dir", str(tmp_path / "start")]
    ) == 0  # fmt: skip
    structure = tmp_path / "start.xyz"
    ase.io.write(structure, emt_clusters(n_structures=1, seed=41)[0])
    arguments = [
        "--start", str(tmp_path / "start" / "best.ckpt"), "--target", str(small_emt_file),
        "--structure", str(structure), "--calculator", "emt", "--out", "loop",
        "--record", "summary.json", "--rounds", "2", "--ps", "0.04", "--nve-ps", "0",
        "--frames", "2", "--epochs", "1", "--max-force-rmse", "1e-9",
    ]  # fmt: skip
    done = run_benchmark("active_md.py", *arguments, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    first, second = summary["rounds"]  # no model agrees with EMT to 1e-9 eV/A: both rounds ran
    assert not first["passed"] and first["labels"]["force_rmse"]["max"] > 1e-9
    assert second["model"].endswith("loop/round-1/model/best.ckpt")
    assert "test_energy_mae_eV" in first["next_model_test"]
    labels = ase.io.read(tmp_path / "loop" / "round-0" / "labels.extxyz", ":")
    assert [frame.info["calculator"] for frame in labels] == ["emt", "emt"]
    # the second round fine-tuned on the target and the first round's labels
    tuned = json.loads((tmp_path / "loop" / "round-1" / "model" / "finetune.json").read_text())
    assert tuned["data"] == [
        str(small_emt_file),
        str(tmp_path / "loop" / "round-0" / "labels.extxyz"),
    ]
    # a rerun takes every step's recorded output instead of running it again
    checkpoint = tmp_path / "loop" / "round-1" / "model" / "best.ckpt"
    before = checkpoint.stat().st_mtime_ns
    again = run_benchmark("active_md.py", *arguments, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert checkpoint.stat().st_mtime_ns == before
    assert json.loads((tmp_path / "summary.json").read_text())["rounds"] == summary["rounds"]
