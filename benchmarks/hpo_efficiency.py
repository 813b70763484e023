"""Pruning efficiency: TPE with pruning (median by default) against random search without pruning.

Both get the same budget of trial-epochs (a trial that runs e epochs spends
e) on the same SeB20 data and search space, for several seeds. Printed per
seed: the best validation energy MAE each reaches, the trial-epochs each
spent, and the trial-epochs TPE+pruning needed to reach random search's best.

    python benchmarks/hpo_efficiency.py [--seeds 3] [--budget 60] [--max-epochs 6]
                                        [--structures 400] [--drop-flagged]
                                        [--pruner median|hyperband|successive-halving]

Goal: pruning saves at least half of the trial-epochs at equal best MAE.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import optuna

from hpo.sweep import SweepOptions, run_sweep

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
  lr: {type: float, low: 1.0e-5, high: 3.0e-2, log: true}
  batch_size: 20
"""


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


def run(strategy: str, seed: int, data: str, args: argparse.Namespace, folder: Path) -> list:
    space = folder / "space.yaml"
    space.write_text(SPACE)
    outcome = run_sweep(SweepOptions(
        study_name=f"{strategy}-{seed}", storage=f"sqlite:///{folder / 'studies.db'}",
        space=str(space), data=(data,), energy_unit="hartree", n_trials=10_000,
        sampler="tpe" if strategy == "tpe+pruning" else "random",
        pruner=args.pruner if strategy == "tpe+pruning" else "none",
        max_epochs=args.max_epochs, seed=seed, tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        runs_dir=str(folder / "runs"), show_progress_bar=False, callbacks=(Budget(args.budget),),
        train_overrides={"drop_flagged": True} if args.drop_flagged else {},
    ))
    return curve(outcome.study)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=60, help="trial-epochs per strategy")
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--structures", type=int, default=400, help="SeB20 structures used")
    parser.add_argument("--pruner", default="median",
                        choices=["median", "hyperband", "successive-halving"],
                        help="the pruner of the TPE side (default median)")
    parser.add_argument("--drop-flagged", action="store_true",
                        help="train and validate on the audit-clean structures only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with np.load(args.data) as archive:  # a seeded subset, written to a temporary folder
            keep = np.sort(np.random.default_rng(0).choice(len(archive["E"]), args.structures,
                                                           replace=False))
            subset = folder / "B=20.npz"
            np.savez(subset, R=archive["R"][keep], E=archive["E"][keep], z=archive["z"])
        print(f"TPE with the {args.pruner} pruner against random search; "
              f"budget {args.budget} trial-epochs, {args.max_epochs} epochs per trial, "
              f"{args.structures} SeB20 structures"
              + (", audit-flagged ones dropped" if args.drop_flagged else ""))
        print(f"{'seed':>4s} {'random best':>12s} {'spent':>6s} {'tpe+prune best':>15s} "
              f"{'spent':>6s} {'tpe epochs to reach random best':>32s}")
        savings = []
        for seed in range(args.seeds):
            random_curve = run("random", seed, str(subset), args, folder)
            tpe_curve = run("tpe+pruning", seed, str(subset), args, folder)
            target = random_curve[-1][1]
            reached = next((spent for spent, best in tpe_curve if best <= target), None)
            savings.append(1 - reached / random_curve[-1][0] if reached else 0.0)
            print(f"{seed:4d} {target:12.4f} {random_curve[-1][0]:6d} {tpe_curve[-1][1]:15.4f} "
                  f"{tpe_curve[-1][0]:6d} {reached if reached else 'not reached':>32}")
        print(f"mean saving of trial-epochs at equal best MAE: {100 * np.mean(savings):.0f}% "
              f"(goal: at least 50%)")


if __name__ == "__main__":
    main()
