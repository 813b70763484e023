"""Pruning efficiency: TPE with pruning (median by default) against random search without pruning.

Both get the same budget of trial-epochs (a trial that runs e epochs spends
e; a repeat of a finished trial's parameters reuses its result and spends 0)
on the same SeB20 data and search space, for several seeds. A seed fixes
the data split and the training seed of both sides; random search draws its
configurations from a stream of its own, so it does not share TPE's random
start-up trials (shared ones couple the sides: TPE+pruning would get random
search's early finds at a pruned price). The space: SchNet sizes and a
log-uniform learning rate over 1e-5..3e-2 (``--lr-range`` changes it), or
(``--table1-lr``) the SchNet_IIA study's four learning rates 1e-4, 5e-5, 1e-5,
5e-6 as a categorical choice.

Printed per seed: the best validation energy MAE each side reaches, the
trial-epochs each spent, the trial-epochs TPE+pruning needed to reach that
seed's random best and the saving against random's whole budget (0 when it
never gets there), and the saving in time to a common target (both sides'
trial-epochs to reach the worse of the two final bests). Then two summaries:

* per seed: the mean and median of those savings. Each compares with the
  luckiest epoch of one random sweep, so it measures noise as much as
  search: two identical strategies score well above 0 on it (``--null``).
* at equal mean best MAE: per seed, the ratio of TPE+pruning's best within x
  trial-epochs to random's final best; the saving is 1 - x / budget for the
  fewest x at which the ratio averages 1 over the seeds, with a bootstrap
  interval over the seeds. Two identical strategies score 0 on it in
  expectation, though 30-seed null runs scored 25% (interval 0-50%) and,
  with SchNet's later initialisation, 35% (0-65%).
  Also the comparison at half the budget: mean best MAEs, the paired
  difference and its t-test.

    python benchmarks/hpo_efficiency.py [--seeds 10] [--budget 120] [--max-epochs 6]
                                        [--structures 400] [--workers 2] [--drop-flagged]
                                        [--lr-range 1e-5 3e-2 | --table1-lr]
                                        [--lr-schedule plateau|cosine]
                                        [--first-seed 0] [--null] [--curves-out FILE]
                                        [--pruner median|hyperband|successive-halving|estimate]

``--null`` replaces TPE+pruning by random search on another stream: a
calibration run showing what chance alone scores on each summary.

Each (strategy, seed) sweep runs in its own process with one torch thread
(``--workers`` at a time), so the numbers do not depend on the machine's
thread count or load. Early SeB20 epochs are noisy and a sweep's best is an
extreme of a few trials, so single seeds swing widely: judge the summaries.

Goal: pruning saves at least half of the trial-epochs at equal best MAE.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from curve_statistics import (  # beside this script
    best_ratios,
    best_within,
    bootstrap_savings,
    saving,
    saving_at_equal_mean,
    standard_error,
    time_to_common_target,
)
from scipy import stats

from hpo.study.estimation import TRAIN_LOSS_ATTR
from hpo.study.registries import PRUNERS
from hpo.study.trial_record import trial_result

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "seb_clusters" / "SeBn" / "B=20.npz"
SPACE = """
name: efficiency
model: schnet
params:
  n_atom_basis: {type: categorical, choices: [16, 32, 64]}
  n_interactions: {type: int, low: 1, high: 3}
  n_rbf: {type: categorical, choices: [10, 20]}
  cutoff: {type: categorical, choices: [5.0, 6.0]}
  lr: LR
  batch_size: 20
  lr_schedule: SCHEDULE
"""
LR_RANGE = (1.0e-5, 3.0e-2)
TABLE1_LR = (1.0e-4, 5.0e-5, 1.0e-5, 5.0e-6)  # the SchNet_IIA study's learning rates
STREAMS = {"random": 1_000_003, "random again": 2_000_006}  # random search's own streams


def epochs_spent(trial: optuna.trial.FrozenTrial) -> int:
    """Epochs a trial trained: recorded when it finished, else the epochs it reported (pruned).

    A duplicate of a finished trial trained none: it reused the stored result
    (it carries that trial's user attributes, ``epochs`` among them).
    """
    if "duplicate_of" in trial.user_attrs:
        return 0
    # a trial stopped by --pruner estimate recorded its last epoch's loss, not its report
    trained = max(len(trial.intermediate_values), len(trial.user_attrs.get(TRAIN_LOSS_ATTR, [])))
    return int(trial_result(trial).get("epochs") or trained)


class Budget:
    """Stops a study once its trials have spent ``limit`` trial-epochs."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if sum(epochs_spent(t) for t in study.trials) >= self.limit:
            study.stop()


def curve(study: optuna.Study) -> list[tuple[int, float]]:
    """(trial-epochs spent so far, best value so far) after every finished trial."""
    spent, best, points = 0, float("inf"), []
    for trial in study.trials:
        spent += epochs_spent(trial)
        if trial.value is not None:
            best = min(best, trial.value)
        points.append((spent, best))
    return points


@dataclass(frozen=True)
class Job:
    strategy: str
    seed: int
    data: str
    folder: str
    budget: int
    max_epochs: int
    pruner: str
    drop_flagged: bool
    lr_range: tuple[float, float]
    lr_choices: tuple[float, ...]
    lr_schedule: str


def quiet_worker(*loggers: str) -> None:
    """A benchmark's sweep process: one torch thread, warnings only from the libraries."""
    # Lightning and MLflow set their loggers' levels when imported: import them before ours
    import lightning.pytorch  # noqa: F401
    import mlflow  # noqa: F401
    import torch

    torch.set_num_threads(1)
    for noisy in ("lightning.pytorch", "lightning.fabric", "mlflow", *loggers):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")


def budgeted_sweep(
    folder: Path,
    study_name: str,
    space: str,
    data: str,
    sampler: str,
    pruner: str,
    stream: int | None,
    budget: int,
    **options: Any,
) -> optuna.Study:
    """One sweep in ``folder``'s own stores, stopped after ``budget`` trial-epochs.

    ``stream`` seeds a random sampler of its own in place of ``sampler``'s (random
    search on another stream than TPE's start-up trials); ``options`` are more
    :class:`~hpo.sweep.options.SweepOptions` (energy unit, epochs, seed, a
    ``sampler_override`` of the caller's, ...).
    """
    from hpo.sweep.options import SweepOptions
    from hpo.sweep.runner import run_sweep

    if stream is not None:
        options["sampler_override"] = optuna.samplers.RandomSampler(stream)

    outcome = run_sweep(
        SweepOptions(
            study_name=study_name,
            storage=f"sqlite:///{folder / 'studies.db'}",
            space=space,
            data=(data,),
            n_trials=10_000,
            sampler=sampler,
            pruner=pruner,
            tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
            runs_dir=str(folder / "runs"),
            show_progress_bar=False,
            callbacks=(Budget(budget),),
            **options,
        )
    )
    return outcome.study


def run(job: Job) -> list[tuple[int, float]]:
    """One budgeted sweep in its own storage; its curve (see :func:`curve`)."""
    quiet_worker()
    folder = Path(job.folder) / f"{job.strategy}-{job.seed}"
    folder.mkdir()
    space = folder / "space.yaml"
    space.write_text(
        SPACE.replace("LR", lr_parameter(job.lr_range, job.lr_choices)).replace(
            "SCHEDULE", job.lr_schedule
        )
    )
    tpe = job.strategy == "tpe+pruning"
    study = budgeted_sweep(
        folder,
        f"{job.strategy}-{job.seed}",
        str(space),
        job.data,
        sampler="tpe" if tpe else "random",
        pruner=job.pruner if tpe else "none",
        stream=None if tpe else STREAMS[job.strategy] + job.seed,
        budget=job.budget,
        energy_unit="hartree",
        max_epochs=job.max_epochs,
        seed=job.seed,
        train_overrides={"drop_flagged": True} if job.drop_flagged else {},
    )
    return curve(study)


def lr_parameter(lr_range: tuple[float, float], lr_choices: tuple[float, ...]) -> str:
    """The space's learning rate: categorical over ``lr_choices``, else log-uniform over the range."""
    if lr_choices:
        return f"{{type: categorical, choices: [{', '.join(f'{lr:.1e}' for lr in lr_choices)}]}}"
    return f"{{type: float, low: {lr_range[0]:.3e}, high: {lr_range[1]:.3e}, log: true}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds run from here (to split a run; seeds repeat exactly)",
    )
    parser.add_argument("--budget", type=int, default=120, help="trial-epochs per strategy")
    parser.add_argument("--max-epochs", type=int, default=6, help="epochs of an unpruned trial")
    parser.add_argument("--structures", type=int, default=400, help="SeB20 structures used")
    parser.add_argument("--workers", type=int, default=2, help="sweeps run at once")
    parser.add_argument(
        "--pruner",
        default="median",
        choices=[name for name in PRUNERS if name != "none"],
        help="the pruner of the TPE side (default median)",
    )
    learning_rates = parser.add_mutually_exclusive_group()
    learning_rates.add_argument(
        "--lr-range",
        type=float,
        nargs=2,
        default=LR_RANGE,
        metavar=("LOW", "HIGH"),
        help="log-uniform learning-rate range of the space (default %(default)s)",
    )
    learning_rates.add_argument(
        "--table1-lr",
        action="store_true",
        help="the learning rate is categorical over the SchNet_IIA "
        "study's Table 1 values "
        f"{', '.join(f'{lr:g}' for lr in TABLE1_LR)} instead of "
        "a --lr-range",
    )
    parser.add_argument(
        "--lr-schedule",
        default="plateau",
        choices=["plateau", "cosine"],
        help="the trials' learning-rate schedule (default %(default)s)",
    )
    parser.add_argument(
        "--null",
        action="store_true",
        help="calibration: random search on another stream replaces TPE+pruning, "
        "so the savings printed are what chance alone gives",
    )
    parser.add_argument(
        "--curves-out",
        type=Path,
        help="write every sweep's curve (trial-epochs, best so far) to this JSON",
    )
    parser.add_argument(
        "--drop-flagged",
        action="store_true",
        help="train and validate on the audit-clean structures only",
    )
    args = parser.parse_args()
    challenger = "random again" if args.null else "tpe+pruning"
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    lr_choices = TABLE1_LR if args.table1_lr else ()
    if not args.data.is_file():
        parser.error(f"{args.data} not found; pass --data with a SeB_n .npz file")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with np.load(args.data) as archive:  # a seeded subset, written to a temporary folder
            keep = np.sort(
                np.random.default_rng(0).choice(len(archive["E"]), args.structures, replace=False)
            )
            subset = folder / args.data.name
            np.savez(subset, R=archive["R"][keep], E=archive["E"][keep], z=archive["z"])
        jobs = [
            Job(
                strategy,
                seed,
                str(subset),
                name,
                args.budget,
                args.max_epochs,
                args.pruner,
                args.drop_flagged,
                tuple(args.lr_range),
                lr_choices,
                args.lr_schedule,
            )
            for seed in seeds
            for strategy in ("random", challenger)
        ]
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            curves = dict(
                zip([(job.strategy, job.seed) for job in jobs], pool.map(run, jobs), strict=False)
            )
    print(
        f"{challenger_text(challenger, args.pruner)} against random search; "
        f"budget {args.budget} trial-epochs, {args.max_epochs} epochs per trial, "
        f"{args.structures} SeB20 structures, lr "
        + (
            f"one of {', '.join(f'{lr:g}' for lr in lr_choices)}"
            if lr_choices
            else f"{args.lr_range[0]:g}..{args.lr_range[1]:g}"
        )
        + f" ({args.lr_schedule} schedule)"
        + (", audit-flagged ones dropped" if args.drop_flagged else "")
    )
    random_curves = [curves["random", seed] for seed in seeds]
    other_curves = [curves[challenger, seed] for seed in seeds]
    report(list(seeds), random_curves, other_curves, challenger, args.budget)
    if args.curves_out:
        args.curves_out.write_text(
            json.dumps(
                {f"{strategy} {seed}": points for (strategy, seed), points in curves.items()}
            )
        )


def challenger_text(challenger: str, pruner: str) -> str:
    if challenger == "tpe+pruning":
        return f"TPE with the {pruner} pruner"
    return "Null comparison: random search on another stream, no pruning,"


def report(
    seeds: list[int],
    random_curves: list[list[tuple[int, float]]],
    other_curves: list[list[tuple[int, float]]],
    challenger: str,
    budget: int,
) -> None:
    """Per-seed table, then both savings (per seed; at equal mean best) and the half-budget test."""
    print(
        f"{'seed':>4s} {'random best':>12s} {'spent':>6s} {challenger + ' best':>17s} "
        f"{'spent':>6s} {'epochs to reach random best':>28s} {'saving':>7s} "
        f"{'common target':>14s}"
    )
    savings, common, better = [], [], 0
    for seed, random_curve, other_curve in zip(seeds, random_curves, other_curves, strict=False):
        reached, saved = saving(random_curve, other_curve)
        savings.append(saved)
        common.append(time_to_common_target(random_curve, other_curve))
        better += other_curve[-1][1] <= random_curve[-1][1]
        print(
            f"{seed:4d} {random_curve[-1][1]:12.4f} {random_curve[-1][0]:6d} "
            f"{other_curve[-1][1]:17.4f} {other_curve[-1][0]:6d} "
            f"{reached if reached else 'not reached':>28} {100 * saved:6.0f}% "
            f"{100 * common[-1]:13.0f}%"
        )
    error = standard_error(np.array(savings)) if len(savings) > 1 else np.nan
    print(
        f"saving per seed (trial-epochs to reach that seed's random best) over {len(seeds)} "
        f"seeds: mean {100 * np.mean(savings):.0f}% (standard error {100 * error:.0f}%), "
        f"median {100 * np.median(savings):.0f}%; in time to a common target: mean "
        f"{100 * np.mean(common):.0f}%, median {100 * np.median(common):.0f}%; {challenger} "
        f"ends at least as good as random on {better} seeds"
    )
    ratios = best_ratios(random_curves, other_curves, budget)
    limit, saved = saving_at_equal_mean(ratios)
    resampled = bootstrap_savings(ratios)
    low, high = np.percentile(resampled, [2.5, 97.5])
    print(
        f"saving at equal mean best MAE ({challenger}'s best / random's final best, averaged "
        f"over the seeds, reaches 1): {100 * saved:.0f}% ({limit or 'never'} of {budget} "
        f"trial-epochs; goal: at least 50%); seeds resampled: 95% interval {100 * low:.0f}-"
        f"{100 * high:.0f}%, at least 50% in {100 * np.mean(resampled >= 0.5):.0f}% of draws"
    )
    half = budget // 2
    random_best = np.array([curve[-1][1] for curve in random_curves])
    other_half = np.array([best_within(curve, half) for curve in other_curves])
    if len(seeds) > 1 and np.all(np.isfinite(other_half)):
        difference, ratio = other_half - random_best, ratios[:, half - 1]
        print(
            f"{challenger} after {half} trial-epochs against random after {budget}: mean best "
            f"MAE {np.mean(other_half):.2f} against {np.mean(random_best):.2f} eV, paired "
            f"difference {np.mean(difference):+.2f} eV (standard error "
            f"{standard_error(difference):.2f}, paired t-test p = "
            f"{stats.ttest_rel(other_half, random_best).pvalue:.2f}), ratio "
            f"{np.mean(ratio):.3f} (standard error {standard_error(ratio):.3f})"
        )
        random_half = np.array([best_within(curve, half) for curve in random_curves])
        print(
            f"both after {half} trial-epochs: {challenger}'s best / random's best "
            f"{np.mean(other_half / random_half):.3f} (standard error "
            f"{standard_error(other_half / random_half):.3f}, paired t-test p = "
            f"{stats.ttest_rel(other_half, random_half).pvalue:.3f}); random's own best after "
            f"{half} / after {budget}: {np.mean(random_half / random_best):.3f}"
        )


if __name__ == "__main__":
    main()
