"""The search suite's table, on sweeps whose results are known."""

from __future__ import annotations

import sys

from tests.support.commands import BENCHMARKS

sys.path.insert(0, str(BENCHMARKS))

from hpo_suite import PROBLEMS, summarise  # noqa: E402


def test_a_paused_sweep_does_not_set_the_training_share() -> None:
    def sweep(seconds: float, training: float, best: float) -> dict:
        return {
            "curve": [[6, best + 1.0], [60, best]],
            "seconds": seconds,
            "training_seconds": training,
        }

    results = {}
    for seed in range(3):
        results["random", seed] = sweep(60.0, 30.0, 1.0 + seed)
        # the second null sweep stood still for an hour (a stopped run): its wall time is 3660 s
        wall = 3660.0 if seed == 1 else 60.0
        results["null", seed] = sweep(wall, 30.0, 1.0 + seed)
    lines = summarise(
        "seb20-table1", PROBLEMS["seb20-table1"], results, [0, 1, 2], ["random", "null"]
    )
    [null_row] = [line for line in lines if line.startswith("| null |")]
    # every sweep spent half its time training; a sum over sweeps would say 2%
    assert null_row.endswith("| 1.0 (50% training) |"), null_row
