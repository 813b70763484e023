"""The benchmarks run end to end (``--smoke``: tiny subsets, one epoch, one repeat)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_file

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_benchmark(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_schnet_throughput_smoke_prints_every_row_for_both_sides(tmp_path) -> None:
    shared_file("seb_clusters/SeBn/B=20.npz")
    if importlib.util.find_spec("schnetpack") is None:
        pytest.skip("schnetpack is not installed: bash benchmarks/install_peers.sh")
    done = run_benchmark("schnet_throughput.py", "--smoke", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("load average ") and "smoke run" in lines[0]
    for label in (
        "wall s per epoch (train + val)",
        "test energy MAE, eV (full set)",
        "test energy MAE, eV (audit-clean)",
        "peak memory, MiB",
        "training step, structures/s",
        "inference, structures/s",
    ):
        row = next(line for line in lines if line.strip().startswith(label))
        ours, peer, ratio = row[len(row.split(label)[0]) + len(label) :].split()
        assert float(ours) > 0 and float(peer) > 0 and ratio.endswith("x"), row
