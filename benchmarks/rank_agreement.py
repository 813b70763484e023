"""How well a trial's rank after its first epochs predicts its final rank: the case for a first-epoch pruner.

Successive halving and Hyperband stop trials on their rank after one epoch.
That is sound where the rank after one epoch is the rank at the end. This
script runs random search on one problem of ``benchmarks/hpo_suite.py`` (its
``random`` strategy: the same trials as the suite's cells of that seed and
budget) and, for every seed, compares every trial's validation value after
``k`` epochs with its final one (the best epoch's, the value the study
ranks):

* Spearman's rho over all the trials that ran every epoch;
* the same over the final best quarter (where a model-based sampler searches
  once it has found them);
* the share of the final best quarter that is in the top quarter after ``k``
  epochs (what successive halving with Optuna's reduction factor 4 keeps), and
  on how many seeds the final best trial is among them.

A sweep reports each epoch at its 0-based index, as Lightning counts, so
Optuna's step ``k`` is the end of epoch ``k + 1``: successive halving with
``min_resource=1`` (pesweep's) first ranks a trial after its second epoch.

Printed: the median over the seeds and their range. Every seed is a cell
(``benchmarks/cells.py``), so ``--cells-dir`` makes a rerun skip it.

    python benchmarks/rank_agreement.py --problem tio2-aenet-ranked-b8 [--seeds 4]
                                        [--budget-factor 8] [--jobs 2] [--cells-dir DIR]
                                        [--cuau-water DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

try:
    from cells import Cell, CellStore, run_cells
    from hpo_efficiency import quiet_worker
    from hpo_suite import PROBLEMS, Problem, prepared_data, problem_sweep
except ImportError:  # imported as benchmarks.rank_agreement
    from benchmarks.cells import Cell, CellStore, run_cells
    from benchmarks.hpo_efficiency import quiet_worker
    from benchmarks.hpo_suite import PROBLEMS, Problem, prepared_data, problem_sweep

KEPT_SHARE = 4  # a rung keeps a quarter (Optuna's reduction factor)


def trial_curves(problem_name: str, problem: Problem, seed: int, data: str) -> dict[str, list[Any]]:
    """A cell's work: the random search's trials, each its value per epoch and its final value."""
    quiet_worker("hpo", "lightning_modules")
    with tempfile.TemporaryDirectory(prefix="pesweep-ranks-") as name:
        study, _ = problem_sweep(problem_name, problem, "random", seed, data, Path(name))
    epochs = list(range(problem.max_epochs))  # Optuna's steps: the epochs' 0-based indices
    full = [
        (t.value, [t.intermediate_values[epoch] for epoch in epochs])
        for t in study.trials
        if t.value is not None and all(epoch in t.intermediate_values for epoch in epochs)
    ]
    return {"per_epoch": [curve for _, curve in full], "final": [value for value, _ in full]}


def agreement(per_epoch: list[list[float]], final: list[float], epoch: int) -> dict[str, float]:
    """After ``epoch`` epochs (1-based): Spearman's rho over all trials and over the final
    best quarter, the share of that quarter in the top quarter, and whether the best is."""
    at = np.array([curve[epoch - 1] for curve in per_epoch])
    end = np.array(final)
    quarter = max(len(end) // KEPT_SHARE, 1)
    best_quarter = np.argsort(end)[:quarter]
    kept = set(np.argsort(at)[:quarter].tolist())
    return {
        "rho": float(stats.spearmanr(at, end).statistic),
        "rho_best_quarter": float(stats.spearmanr(at[best_quarter], end[best_quarter]).statistic),
        "quarter_kept": len(kept & set(best_quarter.tolist())) / quarter,
        "best_kept": float(int(best_quarter[0]) in kept),
    }


def table(results: list[dict[str, list[Any]]], epochs: int) -> list[str]:
    """One row per epoch but the last: the median over the seeds of each measure (range)."""

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f} to {max(values):.2f})"

    usable = [r for r in results if len(r["final"]) >= 3 * KEPT_SHARE]
    if not usable:
        return [f"fewer than {3 * KEPT_SHARE} trials ran every epoch: no statistics"]
    lines = [
        "| after epoch | rho, all trials | rho, final best quarter | "
        "final best quarter in the top quarter | final best in the top quarter |",
        "|---|---|---|---|---|",
    ]
    for epoch in range(1, epochs):
        rows = [agreement(r["per_epoch"], r["final"], epoch) for r in usable]
        lines.append(
            f"| {epoch} | {spread([r['rho'] for r in rows])} | "
            f"{spread([r['rho_best_quarter'] for r in rows])} | "
            f"{spread([r['quarter_kept'] for r in rows])} | "
            f"{sum(int(r['best_kept']) for r in rows)} of {len(rows)} seeds |"
        )
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problem", required=True, help=f"one of {', '.join(PROBLEMS)}")
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0..N-1")
    parser.add_argument("--budget-factor", type=int, default=8, help="the budget times this")
    parser.add_argument("--jobs", type=int, default=1, help="sweeps at once, one thread each")
    parser.add_argument("--cells-dir", type=Path, help="record finished sweeps here (resumable)")
    parser.add_argument("--cuau-water", type=Path, help="make_cuau_water.py's --out folder")
    parser.add_argument("--smoke", action="store_true", help="a tiny problem, 2 seeds")
    args = parser.parse_args(argv)
    if args.problem not in PROBLEMS:
        parser.error(f"unknown problem {args.problem!r}; choose one of {', '.join(PROBLEMS)}")
    if args.seeds < 1 or args.budget_factor < 1:
        parser.error("--seeds and --budget-factor must be 1 or more")
    problem = replace(
        PROBLEMS[args.problem], budget=PROBLEMS[args.problem].budget * args.budget_factor
    )
    seeds = range(args.seeds)
    if args.smoke:
        problem, seeds = replace(problem, structures=40, budget=36, max_epochs=3), range(2)
    with tempfile.TemporaryDirectory(prefix="pesweep-ranks-data-") as scratch:
        prepared = prepared_data(problem, Path(scratch), args.cuau_water)
        if prepared is None:
            parser.error(f"{args.problem}'s data are absent ({problem.data})")
        data, unit = prepared
        store = CellStore(args.cells_dir or Path(scratch) / "cells")
        as_read = replace(problem, energy_unit=unit)
        cells = [
            Cell(
                f"{args.problem}/budget-{problem.budget}/seed-{seed}",
                {"problem": {**problem.__dict__}, "strategy": "random", "seed": seed},
                trial_curves,
                (args.problem, as_read, seed, str(data)),
            )
            for seed in seeds
        ]
        found = run_cells(store, cells, args.jobs)
    results = [found[cell.key] for cell in cells]
    lines = [
        f"## {args.problem}: random search, {problem.budget} trial-epochs of "
        f"{problem.max_epochs} epochs, {len(results)} seeds; median over the seeds (range)",
        *table(results, problem.max_epochs),
    ]
    print("\n".join(lines))  # noqa: T201 - a benchmark prints its table
    return lines


if __name__ == "__main__":
    main()
