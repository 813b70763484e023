"""benchmarks/rank_agreement.py: early ranks against final ranks, on curves whose answer is known
and on a real (tiny) sweep."""

from __future__ import annotations

import sys

from tests.support.commands import BENCHMARKS, run_benchmark
from tests.support.data import shared_file

sys.path.insert(0, str(BENCHMARKS))

from rank_agreement import agreement, table  # noqa: E402


def test_a_rank_that_flips_after_the_first_epoch_agrees_only_from_the_second() -> None:
    # twelve trials: after epoch 1 the order is the reverse of the final one, after 2 the same
    final = [float(n) for n in range(12)]
    per_epoch = [[20.0 - n, 10.0 + n, float(n)] for n in range(12)]
    first, second = agreement(per_epoch, final, 1), agreement(per_epoch, final, 2)
    assert first["rho"] == -1.0 and first["quarter_kept"] == 0.0 and first["best_kept"] == 0.0
    assert second == {"rho": 1.0, "rho_best_quarter": 1.0, "quarter_kept": 1.0, "best_kept": 1.0}
    # the ranking reads the epoch asked for, not the last value (that would agree at epoch 1)
    rows = table([{"per_epoch": per_epoch, "final": final}] * 2, 3)
    assert rows[2].startswith("| 1 | -1.00 (-1.00 to -1.00) |") and "0 of 2 seeds" in rows[2]
    assert rows[3].startswith("| 2 | 1.00 (1.00 to 1.00) |") and "2 of 2 seeds" in rows[3]


def test_too_few_trials_give_no_statistics() -> None:
    rows = table([{"per_epoch": [[1.0, 1.0]] * 5, "final": [1.0] * 5}], 2)
    assert rows == ["fewer than 12 trials ran every epoch: no statistics"]


def test_the_smoke_run_prints_each_epochs_row_and_resumes_from_its_cells(tmp_path) -> None:
    shared_file("seb_clusters/SeBn/B=20.npz")
    cells = tmp_path / "cells"
    refused = run_benchmark(
        "rank_agreement.py", "--problem", "seb21", "--cells-dir", str(cells), cwd=tmp_path
    )
    assert refused.returncode == 2 and "unknown problem 'seb21'" in refused.stderr
    assert not cells.exists()
    arguments = ("--problem", "seb20-table1", "--smoke", "--cells-dir", str(cells))
    done = run_benchmark("rank_agreement.py", *arguments, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(rows) == 2 and all(" of 2 seeds |" in row for row in rows)
    assert len(list(cells.rglob("*.json"))) == 2
    again = run_benchmark("rank_agreement.py", *arguments, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == done.stdout
