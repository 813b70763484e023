"""A suite of MLIP sweep problems: which search strategy reaches random search's best for least compute.

Each problem is a data set, a search space, a budget of trial-epochs per
sweep and a quality metric (the study's objective on the validation set).
For every seed, every strategy sweeps the same split with the same budget.
The reference is random search without pruning, on a random stream of its
own, and a null row (random search on another stream) shows what chance
alone scores. The model-based strategies (TPE with each pruner, GPSampler)
are seeded alike, so their random start-up trials are the same
configurations: paired among themselves, independent of random search's
(the budget table's first column shows it; the issue asked for a stream per
strategy, and the cells were made this way). Every (problem, strategy, seed) sweep is a cell
(``benchmarks/cells.py``): with ``--cells-dir`` a finished one is recorded and
a rerun skips it, so the full suite spans sessions; ``--jobs N`` runs N sweeps
at once, one torch thread each.

Problems (reduced where a CPU needs it; the table says how):

* ``seb20-table1``: SeB20 energies (Hartree), Table 1's shape (feature sizes,
  interactions, Gaussians, cutoff) at CPU sizes, lr 1e-5..3e-2 (log);
* ``tio2-aenet``: 150 of the 1000 TiO2 structures with forces, the ænet study's space
  (radial and angular orders and cutoffs, optimizer, lr, weight decay, alpha),
  quality the weighted validation loss;
* ``tio2-aenet-ranked``: the same, every trial ranked by its validation loss
  at one weight (alpha 0.1, the ænet-PyTorch reference run's) whatever alpha it
  trains with: "the validation loss the study weights". ``tio2-aenet`` ranks
  each trial at its own sampled alpha, and a search drives alpha to the lower
  end of its range rather than find a better potential;
* ``tio2-aenet-ranked-b8``: ``tio2-aenet-ranked`` with batches of 8: a trial
  takes 90 optimizer steps instead of 12, so its first epoch shows how it
  learns, not only where it starts (successive halving's first rung ranks it
  there);
* ``tio2-aenet-ranked-b8-zero``: the same with every element network's last
  layer started at zero (``zero_output_layer``), so that every trial starts
  from the same energies (the element references) and a first-epoch rank
  compares learning;
* ``cuau-water``: 300 of the 600 GFN1-xTB CuAu + water frames (2-8 waters)
  from ``benchmarks/make_cuau_water.py`` (``--cuau-water DIR``), SchNet and
  ænet in one study (the ``families`` space).

Strategies: ``random`` (the reference), ``tpe+median`` (pesweep's default),
``tpe+hyperband``, ``gp`` (Optuna's GPSampler), ``tpe+halving`` (successive
halving), ``tpe+estimate`` (the estimation pruner), ``tpe20+halving`` (TPE
with 20 random start-up trials instead of 10, and successive halving),
``tpe+halving-from-3`` (successive halving's first rung after three epochs,
not two), ``tpe20+halving-from-3`` (both changes), and ``null``. The three
follow-ups run only when ``--strategies`` names them; the default is the
issue's seven.

Printed per problem and strategy: the saving at equal mean best (trial-epochs
at which the strategy's mean best over the seeds reaches random search's
final mean best; bootstrap 95% interval over the seeds) beside the null row's,
the best at equal budget against random's (paired t-test), and the wall time;
then the goal per problem, met or NOT met: a saving of at least 75% whose
interval lies above the null row's, and no strategy worse than random at
equal budget. A problem where random search is within 1% of its final best
at a quarter of its budget leaves no room and is reported as such.
``--budget-factor K`` runs the problems at K times their budget (cells in
``PROBLEM/budget-N/`` beside the published budget's), to say how the
conclusion moves with the budget. ``--against STRATEGY`` adds each
strategy's final best over that one's, seed by seed (paired t-test): two
strategies may both beat random search and not differ from each other.

    python benchmarks/hpo_suite.py [--problems seb20-table1,tio2-aenet] [--seeds 20]
                                   [--strategies ...] [--cells-dir DIR] [--jobs 2]
                                   [--cuau-water DIR] [--budget-factor 4] [--table-only]
                                   [--first-seed 20] [--against tpe+halving] [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from scipy import stats

try:
    from cells import Cell, CellStore, finished_cells, run_cells
    from curve_statistics import best_ratios, best_within, bootstrap_savings, saving_at_equal_mean
    from hpo_efficiency import STREAMS as RANDOM_STREAMS
    from hpo_efficiency import budgeted_sweep, curve, quiet_worker
except ImportError:  # imported as benchmarks.hpo_suite
    from benchmarks.cells import Cell, CellStore, finished_cells, run_cells
    from benchmarks.curve_statistics import (
        best_ratios,
        best_within,
        bootstrap_savings,
        saving_at_equal_mean,
    )
    from benchmarks.hpo_efficiency import STREAMS as RANDOM_STREAMS
    from benchmarks.hpo_efficiency import budgeted_sweep, curve, quiet_worker

logger = logging.getLogger("hpo_suite")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GOAL_SAVING = 0.75
NO_ROOM = 0.01  # random search within 1% of its final best at a quarter of its budget

SEB_SPACE = """
name: seb20-table1-cpu
model: schnet
params:
  n_atom_basis: {type: categorical, choices: [16, 32, 64]}
  n_interactions: {type: int, low: 1, high: 3}
  n_rbf: {type: categorical, choices: [10, 20, 40]}
  cutoff: {type: categorical, choices: [4.0, 5.0, 6.0]}
  lr: {type: float, low: 1.0e-5, high: 3.0e-2, log: true}
  batch_size: 20
"""
AENET_SPACE = """
name: tio2-aenet-cpu
model: aenet
params:
  radial_order: {type: int, low: 10, high: 22}
  angular_order: {type: int, low: 6, high: 10}
  radial_cutoff: {type: float, low: 6.0, high: 8.0}
  angular_cutoff: {type: float, low: 4.0, high: 6.0}
  optimizer: {type: categorical, choices: [Adam, Adadelta, Adagrad, Adamax, AdamW]}
  lr: {type: float, low: 1.0e-6, high: 1.0e-2, log: true}
  weight_decay: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
  alpha: {type: float, low: 0.1, high: 0.7}
  hidden_layers: 2
  hidden_width: 5
  activation: tanh
  batch_size: 64
  force_fraction: 0.25
"""


# every trial ranked at one weight, alpha 0.1 (the ænet-PyTorch reference run's), whatever
# alpha it trains with: "tio2-aenet" ranks each trial at its own sampled alpha, which the
# search then drives to its lower bound (docs/benchmarks)
AENET_SPACE_RANKED = AENET_SPACE + "  ranking_alpha: 0.1\n"
# the same with batches of 8: 15 optimizer steps an epoch on the 120 training structures
# instead of 2, so that a trial's first epoch shows how it learns, not only where it starts
# (with batches of 64 a trial has 12 steps in all; docs/benchmarks)
AENET_SPACE_RANKED_B8 = AENET_SPACE_RANKED.replace("batch_size: 64", "batch_size: 8")
# the same with every element network's last layer started at zero: an untrained model
# predicts the element references whatever its descriptor and seed, so a trial's first epoch
# ranks its learning, not a random starting offset (which moves the loss by ~10%)
AENET_SPACE_RANKED_B8_ZERO = AENET_SPACE_RANKED_B8 + "  zero_output_layer: true\n"


@dataclass(frozen=True)
class Problem:
    """One sweep problem: data, space, budget and quality (the study's objective)."""

    data: str  # under ../shared/data, or "cuau-water" (--cuau-water DIR/target.extxyz)
    energy_unit: str
    space: str  # YAML text, or a shipped space's name
    objective: str
    structures: int  # drawn with a fixed seed; 0: all
    budget: int  # trial-epochs per sweep
    max_epochs: int
    note: str


PROBLEMS = {
    "seb20-table1": Problem(
        "seb_clusters/SeBn/B=20.npz",
        "hartree",
        SEB_SPACE,
        "energy_mae",
        400,
        90,
        6,
        "400 of 2000 structures; Table 1's shape at CPU sizes (16-64 features)",
    ),
    "tio2-aenet": Problem(
        "tio2_aenet/dir_xsf.tar.gz",
        "ev",
        AENET_SPACE,
        "loss",
        150,
        60,
        6,
        "150 of the 1000 structures (every trial computes its own descriptors: a sweep took "
        "5 minutes on all 1000 and 76 s on 200, over 90% of it featurisation), forces of a "
        "quarter; radial cutoff 6-8 A, angular 4-6 A",
    ),
    "tio2-aenet-ranked": Problem(
        "tio2_aenet/dir_xsf.tar.gz",
        "ev",
        AENET_SPACE_RANKED,
        "loss",
        150,
        60,
        6,
        "tio2-aenet with every trial ranked by its validation loss at alpha 0.1 (the reference "
        "run's weight, pesweep's --loss-alpha), whatever alpha it trains with",
    ),
    "tio2-aenet-ranked-b8": Problem(
        "tio2_aenet/dir_xsf.tar.gz",
        "ev",
        AENET_SPACE_RANKED_B8,
        "loss",
        150,
        60,
        6,
        "tio2-aenet-ranked with batches of 8 instead of 64: 15 optimizer steps an epoch instead "
        "of 2 (a trial of 6 epochs takes 90 steps, not 12)",
    ),
    "tio2-aenet-ranked-b8-zero": Problem(
        "tio2_aenet/dir_xsf.tar.gz",
        "ev",
        AENET_SPACE_RANKED_B8_ZERO,
        "loss",
        150,
        60,
        6,
        "tio2-aenet-ranked-b8 with every element network's last layer started at zero: every "
        "trial starts from the element references, whatever its descriptor and seed",
    ),
    "cuau-water": Problem(
        "cuau-water",
        "ev",
        "families",
        "energy_mae",
        300,
        60,
        6,
        "300 of make_cuau_water.py's 600 target frames (2-8 waters); SchNet and ænet in one study",
    ),
}

# strategy -> (sampler, pruner); random search draws from a stream of its own
STRATEGIES = {
    "random": ("random", "none"),
    "tpe+median": ("tpe", "median"),
    "tpe+hyperband": ("tpe", "hyperband"),
    "gp": ("gp", "none"),
    "tpe+halving": ("tpe", "successive-halving"),
    "tpe+estimate": ("tpe", "estimate"),
    "tpe20+halving": ("tpe-startup-20", "successive-halving"),
    "tpe+halving-from-3": ("tpe", "successive-halving-from-3"),
    "tpe20+halving-from-3": ("tpe-startup-20", "successive-halving-from-3"),
    "null": ("random", "none"),
}
STREAMS = {"random": RANDOM_STREAMS["random"], "null": RANDOM_STREAMS["random again"]}
# the follow-ups: strategies added after the issue's seven, run when --strategies names them
# ("tpe-startup-20" is pesweep's sampler: TPE with 20 random start-up trials, not Optuna's 10;
# seeded per trial as "tpe" is, so its first ten trials are that strategy's)
FOLLOW_UPS = ("tpe20+halving", "tpe+halving-from-3", "tpe20+halving-from-3")


# pruners of the suite's own: successive halving whose first rung is after the third epoch, not
# the second (min_resource 2: Optuna's step 2, as a sweep reports each epoch at its 0-based
# index); with Optuna's reduction factor 4 the next rung, step 8, lies beyond 6 epochs, so a
# trial stops after 3 epochs or runs them all
SUITE_PRUNERS = {"successive-halving-from-3": 2}
# the issue's strategies, the default: the published tables are made of their cells
ISSUE_STRATEGIES = tuple(name for name in STRATEGIES if name not in FOLLOW_UPS)


def suite_pruner(pruner: str) -> tuple[str, dict[str, Any]]:
    """A strategy's pruner name as the sweep records it, and the ``pruner_override`` option
    of a pruner that is the suite's own (:data:`SUITE_PRUNERS`)."""
    if pruner not in SUITE_PRUNERS:
        return pruner, {}
    override = optuna.pruners.SuccessiveHalvingPruner(min_resource=SUITE_PRUNERS[pruner])
    return "successive-halving", {"pruner_override": override}


def problem_sweep(
    problem_name: str, problem: Problem, strategy: str, seed: int, data: str, folder: Path
) -> tuple[optuna.Study, float]:
    """One budgeted sweep of ``strategy`` on ``problem`` in ``folder``; the study, its seconds."""
    sampler, pruner = STRATEGIES[strategy]
    stream = STREAMS.get(strategy)
    pruner, own = suite_pruner(pruner)
    space = problem.space
    if "\n" in space:
        (folder / "space.yaml").write_text(space)
        space = str(folder / "space.yaml")
    start = time.perf_counter()
    study = budgeted_sweep(
        folder,
        f"{problem_name}-{strategy}-{seed}",
        space,
        data,
        sampler,
        pruner,
        None if stream is None else stream + seed,
        problem.budget,
        energy_unit=problem.energy_unit,
        objectives=(problem.objective,),
        max_epochs=problem.max_epochs,
        seed=seed,
        **own,
    )
    return study, time.perf_counter() - start


def sweep_cell(
    problem_name: str, problem: Problem, strategy: str, seed: int, data: str
) -> dict[str, Any]:
    """A cell's work: one budgeted sweep in a temporary folder; its curve and wall time."""
    from hpo.study.trial_record import trial_result

    quiet_worker("hpo", "lightning_modules")
    with tempfile.TemporaryDirectory(prefix="pesweep-suite-") as name:
        study, seconds = problem_sweep(problem_name, problem, strategy, seed, data, Path(name))
        training = sum(float(trial_result(t).get("train_seconds", 0.0)) for t in study.trials)
    return {"curve": curve(study), "seconds": seconds, "training_seconds": training}


def prepared_data(
    problem: Problem, folder: Path, cuau_water: Path | None
) -> tuple[Path, str] | None:
    """The problem's data file and its energy unit, or None when absent.

    A subset (``structures``, drawn with a fixed seed) is written to ``folder``
    as extxyz, whose energies are eV whatever the source's unit was.
    """
    from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
    from lightning_modules.data import load_data
    from lightning_modules.data.subsets import write_extxyz

    if problem.data == "cuau-water":
        if cuau_water is None:
            return None
        source = cuau_water / "target.extxyz"
    else:
        source = SHARED / problem.data
    if not source.exists():
        return None
    if not problem.structures:
        return source, problem.energy_unit
    data = load_data(source, problem.energy_unit)
    if len(data) <= problem.structures:
        return source, problem.energy_unit
    keep = np.sort(np.random.default_rng(0).choice(len(data), problem.structures, replace=False))
    target = folder / f"{source.name.split('.')[0]}-{problem.structures}.extxyz"
    if not target.exists():
        write_extxyz(data.subset(keep), target)
    return target, DEFAULT_ENERGY_UNIT


BUDGET_SHARES = (0.25, 0.5, 1.0)  # where the equal-budget comparison is also made


def budget_lines(
    problem: Problem,
    results: dict[tuple[str, int], dict[str, Any]],
    done: list[int],
    strategies: list[str],
    random_curves: list[list[tuple[int, float]]],
) -> list[str]:
    """How the equal-budget comparison moves with the budget: each strategy's best within
    a share of the budget over random search's within the same share (mean of the per-seed
    ratios, paired t-test), at each of :data:`BUDGET_SHARES`."""
    # the whole budget is each sweep's final best, as in the table above (a last trial may
    # end past the budget)
    limits = [
        max(1, round(share * problem.budget)) if share < 1 else sys.maxsize
        for share in BUDGET_SHARES
    ]
    header = " | ".join(
        f"{100 * share:.0f}% ({limit if share < 1 else 'final'})"
        for share, limit in zip(BUDGET_SHARES, limits, strict=True)
    )
    lines = [
        "best at equal budget / random's, as the budget (trial-epochs) grows:",
        f"| strategy | {header} |",
        "|---" * (len(limits) + 1) + "|",
    ]
    for strategy in strategies:
        if strategy == "random":
            continue
        cells = []
        for limit in limits:
            ours = np.array([best_within(results[strategy, s]["curve"], limit) for s in done])
            theirs = np.array([best_within(curve, limit) for curve in random_curves])
            if not (np.isfinite(ours).all() and np.isfinite(theirs).all()):
                cells.append("- (a sweep without a finished trial)")
                continue
            p = stats.ttest_rel(ours, theirs).pvalue
            cells.append(f"{np.mean(ours / theirs):.3f} (p = {p:.2g})")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return lines


def seed_lines(finals: dict[str, np.ndarray], done: list[int]) -> list[str]:
    """Per seed, each strategy's final best (``finals``: per strategy, over the seeds ``done``)
    over random search's: how many seeds end below random search, the median ratio and the
    worst seed. A mean (the saving, the equal-budget ratio) can rest on one seed; these say
    whether it does."""
    lines = ["per seed, final best / random's:"]
    for strategy, final in finals.items():
        if strategy == "random":
            continue
        ratios = final / finals["random"]
        worst = int(np.argmax(ratios))
        lines.append(
            f"- {strategy}: below random search on {int(np.sum(ratios < 1.0))} of {len(done)} "
            f"seeds, median {np.median(ratios):.3f}, worst {ratios[worst]:.3f} (seed {done[worst]})"
        )
    return lines


def against_lines(finals: dict[str, np.ndarray], against: str) -> list[str]:
    """Head to head: each strategy's final best (``finals``: per strategy, over the same
    seeds) over ``against``'s (mean ratio, paired t-test), and on how many seeds it ends
    below. Two strategies may both beat random search and not differ from each other."""
    theirs = finals[against]
    lines = [f"head to head, final best / {against}'s:"]
    for strategy, ours in finals.items():
        if strategy in ("random", "null", against):
            continue
        p = stats.ttest_rel(ours, theirs).pvalue
        lines.append(
            f"- {strategy}: {np.mean(ours / theirs):.3f} (p = {p:.2g}), below it on "
            f"{int(np.sum(ours < theirs))} of {len(theirs)} seeds"
        )
    return lines


def summarise(
    name: str,
    problem: Problem,
    results: dict[tuple[str, int], dict[str, Any]],
    seeds: list[int],
    strategies: list[str],
    against: str | None = None,
) -> list[str]:
    """The problem's lines: per strategy its saving, interval, equal-budget test and time;
    with ``against``, each strategy head to head with that one."""
    lines = [
        f"## {name}: {problem.note}; budget {problem.budget} trial-epochs, "
        f"{problem.max_epochs} epochs per trial, quality: validation {problem.objective}"
    ]
    done = [s for s in seeds if all((strategy, s) in results for strategy in strategies)]
    if len(done) < 2:
        return [*lines, f"{len(done)} of {len(seeds)} seeds finished: no statistics yet"]
    random_curves = [results["random", s]["curve"] for s in done]
    # each strategy's final best per seed: the table, the seed lines and the head to head
    finals = {
        strategy: np.array([results[strategy, s]["curve"][-1][1] for s in done])
        for strategy in strategies
    }
    random_best = finals["random"]
    quarter = np.array([best_within(c, problem.budget // 4) for c in random_curves])
    room = float(np.mean(quarter / random_best) - 1.0)
    lines.append(
        f"seeds {len(done)}; random search at a quarter of its budget is "
        + (
            f"{100 * room:.1f}% above its final mean best"
            if np.isfinite(room)
            else "without a finished trial"
        )
        + (" (NO ROOM to save compute)" if room <= NO_ROOM else "")
    )
    lines.append(
        "| strategy | saving at equal mean best (95% interval) | best at equal budget / "
        "random's (paired t-test p) | wall minutes per sweep (training share) |"
    )
    lines.append("|---|---|---|---|")
    null_low = None
    verdicts = []
    for strategy in strategies:
        if strategy == "random":
            continue
        curves = [results[strategy, s]["curve"] for s in done]
        ratios = best_ratios(random_curves, curves, problem.budget)
        _, saved = saving_at_equal_mean(ratios)
        low, high = np.percentile(bootstrap_savings(ratios), [2.5, 97.5])
        best = finals[strategy]
        p = stats.ttest_rel(best, random_best).pvalue
        seconds = [results[strategy, s]["seconds"] for s in done]
        training = [results[strategy, s]["training_seconds"] for s in done]
        # the median sweep's share: a sweep whose wall time holds a pause (a stopped run) or a
        # stall does not speak for the rest
        share = statistics.median(t / max(w, 1e-9) for t, w in zip(training, seconds, strict=True))
        lines.append(
            f"| {strategy} | {100 * saved:.0f}% ({100 * low:.0f}-{100 * high:.0f}%) | "
            f"{np.mean(best / random_best):.3f} (p = {p:.2g}) | "
            f"{statistics.median(seconds) / 60:.1f} ({100 * share:.0f}% training) |"
        )
        if strategy == "null":
            null_low = high
        else:
            worse = np.mean(best) > np.mean(random_best) and p < 0.05
            verdicts.append((strategy, saved, low, worse))
    lines += budget_lines(problem, results, done, strategies, random_curves)
    lines += seed_lines(finals, done)
    if against is not None:
        lines += against_lines(finals, against)
    for strategy, saved, low, worse in verdicts:
        met = room > NO_ROOM and saved >= GOAL_SAVING and null_low is not None and low > null_low
        lines.append(
            f"goal for {strategy}: {'met' if met else 'NOT met'} (saving {100 * saved:.0f}%, "
            f"interval from {100 * low:.0f}% against the null row's upper {100 * (null_low or 0):.0f}%)"
            + ("; WORSE than random at equal budget" if worse else "")
        )
    return lines


def main(argv: list[str] | None = None) -> dict[str, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated problems")
    parser.add_argument(
        "--strategies",
        default=",".join(ISSUE_STRATEGIES),
        help=f"comma-separated (default: {','.join(ISSUE_STRATEGIES)}; "
        f"also {','.join(s for s in STRATEGIES if s not in ISSUE_STRATEGIES)})",
    )
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds (split and training)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds FIRST..FIRST+N-1: fresh seeds test a strategy chosen on earlier ones",
    )
    parser.add_argument("--cuau-water", type=Path, help="make_cuau_water.py's --out folder")
    parser.add_argument("--cells-dir", type=Path, help="record finished sweeps here (resumable)")
    parser.add_argument("--jobs", type=int, default=1, help="sweeps at once, one thread each")
    parser.add_argument(
        "--budget-factor",
        type=int,
        default=1,
        help="each problem's budget times this (how the conclusion moves with the budget); "
        "its cells are kept apart from the published budget's",
    )
    parser.add_argument("--table-only", action="store_true", help="summarise finished cells only")
    parser.add_argument(
        "--against",
        metavar="STRATEGY",
        help="also compare each strategy's final best with this one of --strategies, seed by "
        "seed (paired t-test)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny problems, 2 seeds (the test suite)"
    )
    args = parser.parse_args(argv)
    names = [n for n in args.problems.split(",") if n]
    unknown = [n for n in names if n not in PROBLEMS] + [
        s for s in args.strategies.split(",") if s not in STRATEGIES
    ]
    if unknown:
        parser.error(
            f"unknown problem or strategy {unknown[0]!r}; choose from "
            f"{', '.join([*PROBLEMS, *STRATEGIES])}"
        )
    if args.budget_factor < 1:
        parser.error(f"--budget-factor must be 1 or more, not {args.budget_factor}")
    if args.first_seed < 0:
        parser.error(f"--first-seed must be 0 or more, not {args.first_seed}")
    seeds = list(range(args.first_seed, args.first_seed + (2 if args.smoke else args.seeds)))
    strategies = [s for s in args.strategies.split(",") if s]
    if "random" not in strategies:
        parser.error("--strategies must include random: the reference every saving is against")
    if args.against is not None and args.against not in strategies:
        parser.error(f"--against {args.against!r} is not one of --strategies; add it there")
    store_folder = args.cells_dir or Path(tempfile.mkdtemp(prefix="pesweep-suite-cells-"))
    store = CellStore(store_folder)
    report: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="pesweep-suite-data-") as scratch:
        for name in names:
            problem = PROBLEMS[name]
            if args.smoke:
                problem = replace(problem, structures=40, budget=4, max_epochs=2)
            # the published budget's cells keep their keys; a larger budget's sit beside them
            folder = name
            if args.budget_factor != 1:
                problem = replace(problem, budget=problem.budget * args.budget_factor)
                folder = f"{name}/budget-{problem.budget}"
            prepared = prepared_data(problem, Path(scratch), args.cuau_water)
            if prepared is None:
                report[name] = [
                    f"## {name}: skipped: its data are absent ({problem.data}; for "
                    f"cuau-water pass --cuau-water DIR from make_cuau_water.py)"
                ]
                continue
            data, unit = prepared
            as_read = replace(problem, energy_unit=unit)  # a written subset is in eV
            cells = [
                Cell(
                    f"{folder}/{strategy}/seed-{seed}",
                    {
                        "problem": {**problem.__dict__},
                        "strategy": STRATEGIES[strategy],
                        "seed": seed,
                    },
                    sweep_cell,
                    (name, as_read, strategy, seed, str(data)),
                )
                for seed in seeds
                for strategy in strategies
            ]
            found = (
                finished_cells(store, cells)
                if args.table_only
                else run_cells(store, cells, args.jobs)
            )
            results = {
                (cell.arguments[2], cell.arguments[3]): found[cell.key]
                for cell in cells
                if cell.key in found
            }
            report[name] = summarise(name, problem, results, seeds, strategies, args.against)
    for lines in report.values():
        print("\n".join(lines) + "\n")  # noqa: T201 - a benchmark prints its table
    return report


if __name__ == "__main__":
    main()
