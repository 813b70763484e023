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
    [null_row] = [line for line in lines if line.startswith("| null |") and "training" in line]
    # every sweep spent half its time training; a sum over sweeps would say 2%
    assert null_row.endswith("| 1.0 (50% training) |"), null_row


def test_the_budget_table_shows_a_lead_that_more_budget_closes() -> None:
    """A strategy that finds random search's final best in a quarter of the budget leads
    at 25% and ties at 100%; the full-budget column alone would not show it."""
    budget = PROBLEMS["seb20-table1"].budget

    def sweep(curve: list[list[float]]) -> dict:
        return {"curve": curve, "seconds": 60.0, "training_seconds": 30.0}

    results = {}
    for seed in range(4):
        final = 1.0 + 0.1 * seed
        results["random", seed] = sweep([[6, 2.0 * final], [budget, final]])
        results["tpe+median", seed] = sweep([[6, final * (1.0 + 0.01 * seed)], [budget, final]])
    lines = summarise(
        "seb20-table1", PROBLEMS["seb20-table1"], results, [0, 1, 2, 3], ["random", "tpe+median"]
    )
    [row] = [line for line in lines if line.startswith("| tpe+median |") and "%)" not in line]
    quarter, half, full = (cell.split(" (")[0] for cell in row.strip("| ").split(" | ")[1:])
    assert float(quarter) < 0.55 and float(half) < 0.55 and float(full) == 1.0, row


def test_every_problem_space_is_valid_and_the_b8_problem_differs_only_in_its_batches() -> None:
    from search_spaces.space import load_space, parse_space

    spaces = {
        name: parse_space(problem.space, name)
        if "\n" in problem.space
        else load_space(problem.space)
        for name, problem in PROBLEMS.items()
    }
    ranked = {p.name: p for p in spaces["tio2-aenet-ranked"].parameters}
    b8 = {p.name: p for p in spaces["tio2-aenet-ranked-b8"].parameters}
    assert b8["batch_size"].value == 8 and ranked["batch_size"].value == 64
    assert {k: v for k, v in b8.items() if k != "batch_size"} == {
        k: v for k, v in ranked.items() if k != "batch_size"
    }
    assert PROBLEMS["tio2-aenet-ranked-b8"].budget == PROBLEMS["tio2-aenet-ranked"].budget


def test_the_seed_lines_name_the_one_seed_that_decides_the_mean() -> None:
    budget = PROBLEMS["seb20-table1"].budget

    def sweep(final: float) -> dict:
        return {"curve": [[6, 2.0], [budget, final]], "seconds": 60.0, "training_seconds": 30.0}

    results = {}
    for seed in range(5):  # below random search on four seeds, three times above on seed 3
        results["random", seed] = sweep(1.0)
        results["tpe+median", seed] = sweep(3.0 if seed == 3 else 0.8)
    lines = summarise(
        "seb20-table1", PROBLEMS["seb20-table1"], results, list(range(5)), ["random", "tpe+median"]
    )
    [row] = [line for line in lines if line.startswith("- tpe+median:")]
    assert (
        row
        == "- tpe+median: below random search on 4 of 5 seeds, median 0.800, worst 3.000 (seed 3)"
    )


def test_head_to_head_tells_two_strategies_that_both_beat_random_search_apart() -> None:
    budget = PROBLEMS["seb20-table1"].budget

    def sweep(final: float) -> dict:
        return {"curve": [[6, 2.0], [budget, final]], "seconds": 60.0, "training_seconds": 30.0}

    results = {}
    for seed in range(6):  # both below random search; tpe+median below tpe+halving on 5 of 6,
        # by 0.91 on average (p = 0.030)
        results["random", seed] = sweep(1.0)
        results["tpe+halving", seed] = sweep(0.8 + 0.01 * seed)
        results["tpe+median", seed] = sweep(0.85 if seed == 0 else 0.7 + 0.01 * seed)
    strategies = ["random", "tpe+halving", "tpe+median"]
    lines = summarise("seb20-table1", PROBLEMS["seb20-table1"], results, list(range(6)), strategies)
    assert not any(line.startswith("head to head") for line in lines)  # asked for only
    lines = summarise(
        "seb20-table1",
        PROBLEMS["seb20-table1"],
        results,
        list(range(6)),
        strategies,
        against="tpe+halving",
    )
    start = lines.index("head to head, final best / tpe+halving's:")
    row = lines[start + 1]
    assert not lines[start + 2].startswith("- ")  # neither random search nor itself
    assert row.startswith("- tpe+median: 0.910 (p = 0.03)") and row.endswith(
        "below it on 5 of 6 seeds"
    ), row
