"""Pruning efficiency: TPE with pruning (median by default) against random search without pruning.

Both get the same budget of trial-epochs (a trial that runs e epochs spends
e) on the same SeB20 data and search space, for several seeds. A seed fixes
the data split and the training seed of both sides; random search draws its
configurations from a stream of its own, so it does not share TPE's random
start-up trials (shared ones couple the sides: TPE+pruning would get random
search's early finds at a pruned price). The space: SchNet sizes and a log-uniform
learning rate over 1e-5..3e-2 (``--lr-range`` changes it). Printed per
seed: the best validation energy MAE each reaches, the trial-epochs each
spent, the trial-epochs TPE+pruning needed to reach random search's best and
its saving against random's whole budget (none when it never gets there).
Then the mean and median saving over the seeds, and, stricter, the saving in
time to a common target: both sides' trial-epochs to reach the worse of the
two final bests (a level both reach; random's count stops where it found it).

    python benchmarks/hpo_efficiency.py [--seeds 10] [--budget 120] [--max-epochs 6]
                                        [--structures 400] [--workers 2] [--drop-flagged]
                                        [--lr-range 1e-5 3e-2] [--first-seed 0]
                                        [--pruner median|hyperband|successive-halving]

Each (strategy, seed) sweep runs in its own process with one torch thread
(``--workers`` at a time), so the numbers do not depend on the machine's
thread count or load. Early SeB20 epochs are noisy and a sweep's best is an
extreme of a few trials, so single seeds swing widely: judge the mean and
median.

Goal: pruning saves at least half of the trial-epochs at equal best MAE.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import optuna

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
  lr: {type: float, low: LOW, high: HIGH, log: true}
  batch_size: 20
"""
LR_RANGE = (1.0e-5, 3.0e-2)
STRATEGIES = ("random", "tpe+pruning")
RANDOM_STREAM = 1_000_003  # random search draws from its own stream, not TPE's start-up stream


def epochs_spent(trial: optuna.trial.FrozenTrial) -> int:
    """Epochs a trial trained: recorded when it finished, else the epochs it reported (pruned)."""
    return int(trial.user_attrs.get("epochs") or len(trial.intermediate_values))


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


def run(job: Job) -> list[tuple[int, float]]:
    """One budgeted sweep in its own storage; its curve (see :func:`curve`)."""
    import torch

    from hpo.sweep import SweepOptions, run_sweep

    torch.set_num_threads(1)
    for noisy in ("lightning.pytorch", "lightning.fabric", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    folder = Path(job.folder) / f"{job.strategy}-{job.seed}"
    folder.mkdir()
    space = folder / "space.yaml"
    low, high = (f"{value:.3e}" for value in job.lr_range)
    space.write_text(SPACE.replace("LOW", low).replace("HIGH", high))
    tpe = job.strategy == "tpe+pruning"
    own_stream = optuna.samplers.RandomSampler(seed=RANDOM_STREAM + job.seed)
    outcome = run_sweep(SweepOptions(
        study_name=f"{job.strategy}-{job.seed}", storage=f"sqlite:///{folder / 'studies.db'}",
        space=str(space), data=(job.data,), energy_unit="hartree", n_trials=10_000,
        sampler="tpe" if tpe else "random", pruner=job.pruner if tpe else "none",
        sampler_override=None if tpe else own_stream,
        max_epochs=job.max_epochs, seed=job.seed,
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", runs_dir=str(folder / "runs"),
        show_progress_bar=False, callbacks=(Budget(job.budget),),
        train_overrides={"drop_flagged": True} if job.drop_flagged else {},
    ))
    return curve(outcome.study)


def saving(random_curve: list[tuple[int, float]],
           tpe_curve: list[tuple[int, float]]) -> tuple[int | None, float]:
    """Trial-epochs TPE+pruning spent to reach random's final best, and the fraction saved."""
    target = random_curve[-1][1]
    reached = next((spent for spent, best in tpe_curve if best <= target), None)
    return reached, (1 - reached / random_curve[-1][0]) if reached else 0.0


def time_to_common_target(random_curve: list[tuple[int, float]],
                          tpe_curve: list[tuple[int, float]]) -> float:
    """1 - (TPE+pruning's trial-epochs) / (random's) to reach the worse of the two final bests."""
    target = max(random_curve[-1][1], tpe_curve[-1][1])
    random_spent = next(spent for spent, best in random_curve if best <= target)
    tpe_spent = next(spent for spent, best in tpe_curve if best <= target)
    return 1 - tpe_spent / random_spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds run from here (to split a run; seeds repeat exactly)")
    parser.add_argument("--budget", type=int, default=120, help="trial-epochs per strategy")
    parser.add_argument("--max-epochs", type=int, default=6, help="epochs of an unpruned trial")
    parser.add_argument("--structures", type=int, default=400, help="SeB20 structures used")
    parser.add_argument("--workers", type=int, default=2, help="sweeps run at once")
    parser.add_argument("--pruner", default="median",
                        choices=["median", "hyperband", "successive-halving"],
                        help="the pruner of the TPE side (default median)")
    parser.add_argument("--lr-range", type=float, nargs=2, default=LR_RANGE,
                        metavar=("LOW", "HIGH"),
                        help="log-uniform learning-rate range of the space (default %(default)s)")
    parser.add_argument("--drop-flagged", action="store_true",
                        help="train and validate on the audit-clean structures only")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if not args.data.is_file():
        parser.error(f"{args.data} not found; pass --data with a SeB_n .npz file")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with np.load(args.data) as archive:  # a seeded subset, written to a temporary folder
            keep = np.sort(np.random.default_rng(0).choice(len(archive["E"]), args.structures,
                                                           replace=False))
            subset = folder / args.data.name
            np.savez(subset, R=archive["R"][keep], E=archive["E"][keep], z=archive["z"])
        jobs = [Job(strategy, seed, str(subset), name, args.budget, args.max_epochs, args.pruner,
                    args.drop_flagged, tuple(args.lr_range))
                for seed in seeds for strategy in STRATEGIES]
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            curves = dict(zip([(job.strategy, job.seed) for job in jobs], pool.map(run, jobs)))
    print(f"TPE with the {args.pruner} pruner against random search; "
          f"budget {args.budget} trial-epochs, {args.max_epochs} epochs per trial, "
          f"{args.structures} SeB20 structures, lr {args.lr_range[0]:g}..{args.lr_range[1]:g}"
          + (", audit-flagged ones dropped" if args.drop_flagged else ""))
    print(f"{'seed':>4s} {'random best':>12s} {'spent':>6s} {'tpe+prune best':>15s} "
          f"{'spent':>6s} {'tpe epochs to reach random best':>32s} {'saving':>7s} "
          f"{'common target':>14s}")
    savings, common, better = [], [], 0
    for seed in seeds:
        random_curve, tpe_curve = curves["random", seed], curves["tpe+pruning", seed]
        reached, saved = saving(random_curve, tpe_curve)
        savings.append(saved)
        common.append(time_to_common_target(random_curve, tpe_curve))
        better += tpe_curve[-1][1] <= random_curve[-1][1]
        print(f"{seed:4d} {random_curve[-1][1]:12.4f} {random_curve[-1][0]:6d} "
              f"{tpe_curve[-1][1]:15.4f} {tpe_curve[-1][0]:6d} "
              f"{reached if reached else 'not reached':>32} {100 * saved:6.0f}% "
              f"{100 * common[-1]:13.0f}%")
    error = np.std(savings, ddof=1) / np.sqrt(len(savings)) if len(savings) > 1 else np.nan
    print(f"saving of trial-epochs at equal best MAE over {args.seeds} seeds: mean "
          f"{100 * np.mean(savings):.0f}% (standard error {100 * error:.0f}%), median "
          f"{100 * np.median(savings):.0f}% (goal: at "
          f"least 50%); in time to a common target: mean {100 * np.mean(common):.0f}%, median "
          f"{100 * np.median(common):.0f}%; TPE+pruning ends at least as good as random on "
          f"{better} seeds")


if __name__ == "__main__":
    main()
