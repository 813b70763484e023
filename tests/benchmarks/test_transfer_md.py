"""``transfer_md.py`` end to end on GFN1-xTB smoke data: every stage a cell, resumed, refused."""

from __future__ import annotations

import importlib.util

import pytest

from tests.support.commands import run_benchmark


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    if importlib.util.find_spec("tblite") is None:
        pytest.skip("tblite is not installed: pip install -e '.[xtb]'")
    folder = tmp_path_factory.mktemp("cuau")
    done = run_benchmark("make_cuau_water.py", "--out", "data", "--smoke", cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "data"


def table(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("|")]


def test_transfer_md_runs_every_stage_as_cells_and_a_rerun_trains_nothing(
    smoke_data, tmp_path
) -> None:
    options = ("--smoke", "--architectures", "aenet", "--subsets", "cu-or-au")
    cells = tmp_path / "cells"
    arguments = ("--data", str(smoke_data), *options, "--cells-dir", str(cells))
    done = run_benchmark("transfer_md.py", *arguments, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = table(done.stdout)
    assert rows[2].startswith("| aenet | scratch | 1 | ")
    transfer = rows[3].split(" | ")
    assert transfer[:3] == ["| aenet", "cu-or-au", "1"]
    assert "(one seed)" in transfer[5]  # its difference to scratch, paired by seed
    recorded = sorted(str(p.relative_to(cells)) for p in cells.rglob("*.json"))
    assert recorded == [
        "fit/aenet/cu-or-au/pre-0/seed-0.json",
        "fit/aenet/scratch/seed-0.json",
        "md-long/aenet/cu-or-au/pre-0/seed-0.json",
        "md-long/aenet/scratch/seed-0.json",
        "md/aenet/cu-or-au/pre-0/seed-0.json",
        "md/aenet/scratch/seed-0.json",
        "pretrain/aenet/cu-or-au/seed-0.json",
    ]
    assert (cells / "fit/aenet/scratch/seed-0.ckpt").exists()  # the MD cells' model
    again = run_benchmark("transfer_md.py", *arguments, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cells done" not in again.stderr and table(again.stdout) == rows
    other = run_benchmark("transfer_md.py", *arguments, "--md-ps", "0.02", cwd=tmp_path)
    assert other.returncode != 0
    assert "cell md/aenet/scratch/seed-0" in other.stderr
    assert "ran with other settings (spec.time_ps=0.01 there, 0.02 now)" in other.stderr


def test_transfer_md_names_missing_data_before_it_trains(tmp_path) -> None:
    done = run_benchmark("transfer_md.py", "--data", str(tmp_path), "--smoke", cwd=tmp_path)
    assert done.returncode == 2
    assert "lacks pretrain.extxyz, target.extxyz, cu7au6_6h2o.xyz" in done.stderr
    assert "make_cuau_water.py --out" in done.stderr
