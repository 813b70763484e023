"""The samplers, pruners and objectives a study can name: one dict each, the only place to add one.

The command line's choices, the checks of the options and the studies
themselves read these tables; adding an entry is all a new sampler, pruner
or objective needs. Metric names are constants here, as optuna-dashboard,
MLflow and the trials' records spell them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna

from hpo.runtime.errors import StudyError
from hpo.study.estimation import EstimationPruner
from hpo.study.trial_seeds import TrialSeededSampler
from lightning_modules.conventions import MONITORED_METRIC

if TYPE_CHECKING:
    from search_spaces.space import SearchSpace

N_PARAMS = "n_params"
INFERENCE_METRIC = "inference_ms_per_structure"  # ms per structure, energies and forces
MD_STABLE_PS = "md_stable_ps"
VALIDATION_LOSS = "val_loss"  # simulated ps before the MD check's first failure
BEST_VALIDATION_METRIC = f"best_{MONITORED_METRIC}"  # a trial's MLflow run: its best epoch's
# Optuna constraint (Trial.set_constraint) of an MD check: the ps a model fell short of the
# whole check; > 0 is infeasible, and samplers that read constraints steer away from it
MD_CONSTRAINT = "md_stability"


def _grid(seed: int, space: SearchSpace) -> optuna.samplers.BaseSampler:
    from search_spaces.suggest import grid

    return optuna.samplers.GridSampler(grid(space), seed=seed)


# sampler name -> (seed, space) -> sampler
SAMPLERS: dict[str, Callable[[int, SearchSpace], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed, space: optuna.samplers.TPESampler(seed=seed),
    # TPE after 20 random start-up trials, not Optuna's 10: on TiO2 its model locked on to a
    # flat optimizer when ten start-up trials held no good one (docs/benchmarks, search suite)
    "tpe-startup-20": lambda seed, space: optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=20
    ),
    "random": lambda seed, space: optuna.samplers.RandomSampler(seed=seed),
    "grid": _grid,
    "cmaes": lambda seed, space: optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False
    ),
    "qmc": lambda seed, space: optuna.samplers.QMCSampler(  # one scrambled sequence per study;
        seed=seed,  # the parameters it cannot place on it are drawn per trial
        independent_sampler=TrialSeededSampler(
            lambda trial_seed: optuna.samplers.RandomSampler(seed=trial_seed), seed
        ),
        warn_independent_sampling=False,
    ),
    "nsga2": lambda seed, space: optuna.samplers.NSGAIISampler(seed=seed),
    "gp": lambda seed, space: optuna.samplers.GPSampler(
        seed=seed
    ),  # Gaussian process (BoTorch-free)
}
# samplers that take Optuna's constraints (Trial.set_constraint)
CONSTRAINED_SAMPLERS = ("tpe", "tpe-startup-20", "nsga2")
# samplers whose seed must be the same in every process: QMC's scrambled sequence is one for
# the study (each trial takes its next point); the others are seeded per trial (trial_seeds)
ONE_SEED_SAMPLERS = ("qmc",)

# pruner name -> (epochs per trial) -> pruner; epochs are the pruning resource
PRUNERS: dict[str, Callable[[int], optuna.pruners.BasePruner]] = {
    "median": lambda epochs: optuna.pruners.MedianPruner(
        n_startup_trials=2, n_warmup_steps=max(1, epochs // 5)
    ),
    "hyperband": lambda epochs: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs),
    "successive-halving": lambda epochs: optuna.pruners.SuccessiveHalvingPruner(min_resource=1),
    "none": lambda epochs: optuna.pruners.NopPruner(),
    # the summed training loss over the first epochs ranks trainings as their final errors do
    "estimate": lambda epochs: EstimationPruner(epochs),
}
MULTI_OBJECTIVE_PRUNERS = ("estimate", "none")  # pruners that need no trial.report


@dataclass(frozen=True)
class TrialMeasures:
    """What a finished trial measured, from which every objective takes its value."""

    best_val: float  # the best epoch's validation energy MAE, eV per structure
    n_params: int
    inference_ms: float
    md_stable_ps: float | None  # None: no MD check ran
    # the best epoch's validation loss, (1 - w) L_E + w L_F, w: --loss-alpha, else the trial's alpha
    val_loss: float = float("nan")


@dataclass(frozen=True)
class ObjectiveKind:
    """One objective: the metric name studies show, its direction and how a trial's value is read."""

    metric: str
    maximise: bool
    value: Callable[[TrialMeasures], float]
    per_epoch: bool = (
        False  # the metric is logged every epoch: Optuna's reports (and pruners) use it
    )


OBJECTIVES: dict[str, ObjectiveKind] = {
    "energy_mae": ObjectiveKind(MONITORED_METRIC, False, lambda m: m.best_val, per_epoch=True),
    # the loss a study with forces weights (--loss-alpha, else alpha), at the best energy MAE's epoch
    "loss": ObjectiveKind(VALIDATION_LOSS, False, lambda m: m.val_loss, per_epoch=True),
    "n_params": ObjectiveKind(N_PARAMS, False, lambda m: float(m.n_params)),
    "inference_time": ObjectiveKind(INFERENCE_METRIC, False, lambda m: m.inference_ms),
    "md_stable_ps": ObjectiveKind(
        MD_STABLE_PS,
        True,
        lambda m: m.md_stable_ps if m.md_stable_ps is not None else float("nan"),
    ),
}


def build_sampler(
    name: str, seed: int, space: SearchSpace, constrained: bool = False
) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by its CLI name.

    ``constrained``: the study's trials set an MD constraint (``Trial.set_constraint``);
    only samplers that read constraints may run it. Each trial draws from its own stream
    of ``seed`` (:mod:`hpo.study.trial_seeds`), so several processes on one study do not
    repeat each other's configurations.
    """
    if name not in SAMPLERS:
        raise StudyError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    if constrained and name not in CONSTRAINED_SAMPLERS:
        raise StudyError(
            f"sampler {name!r} takes no constraints; with --md-constraint use "
            f"{' or '.join(CONSTRAINED_SAMPLERS)}"
        )
    if name in ONE_SEED_SAMPLERS:
        return SAMPLERS[name](seed, space)
    return TrialSeededSampler(lambda trial_seed: SAMPLERS[name](trial_seed, space), seed)


def build_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    """An Optuna pruner by its CLI name."""
    if name not in PRUNERS:
        raise StudyError(f"unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")
    return PRUNERS[name](max_epochs)


def objective_values(names: tuple[str, ...], measures: TrialMeasures) -> tuple[float, ...]:
    """The values of the study's objectives, in its order."""
    return tuple(OBJECTIVES[name].value(measures) for name in names)
