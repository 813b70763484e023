"""Early stopping by training-performance estimation: rank a running trial by its summed training loss.

Frey et al. (Nat. Mach. Intell. 2023) stop MLIP trainings early by the sum of
their training losses over the first epochs, which ranks the trainings as their
final errors do. :class:`EstimationPruner` does that against the finished
trials of the study: from ``start_share`` of the epoch budget on, a trial whose
estimate at epoch *e* (the sum of its first *e* epoch-mean training losses) is
worse than the ``1 - prune_fraction`` quantile of the finished trials' estimates
at the same epoch is stopped.

The curve is the trial's user attribute :data:`TRAIN_LOSS_ATTR` (one value per
epoch, written by the trial as it trains), so the pruner works for
multi-objective studies (Optuna's ``trial.report`` does not), for several
workers and any storage, and for a retried trial, whose curve continues the lost
trial's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial, TrialState

TRAIN_LOSS_ATTR = "train_loss_curve"  # the epoch-mean training loss of every epoch so far


def estimate(curve: Sequence[float]) -> float:
    """The training-performance estimate of a curve: the sum of its losses (inf for NaN/inf)."""
    total = float(sum(curve))
    return total if math.isfinite(total) else math.inf


class EstimationPruner(BasePruner):
    """Stop the worse ``prune_fraction`` of trials by summed training loss, epoch by epoch.

    ``max_epochs``: the epoch budget of a trial; no trial is stopped before
    ``start_share`` of it, nor while fewer than ``min_finished`` finished
    (complete or pruned) trials reached the same epoch.
    """

    def __init__(
        self,
        max_epochs: int,
        start_share: float = 0.25,
        prune_fraction: float = 0.5,
        min_finished: int = 3,
    ) -> None:
        if not 0 < start_share <= 1 or not 0 < prune_fraction < 1 or min_finished < 1:
            raise ValueError(
                "start_share must lie in (0, 1], prune_fraction in (0, 1), min_finished >= 1"
            )
        self.start_epoch = max(1, math.ceil(start_share * max_epochs))
        self.prune_fraction = prune_fraction
        self.min_finished = min_finished

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return self.prune_curve(study, trial.user_attrs.get(TRAIN_LOSS_ATTR, []))

    def prune_curve(self, study: optuna.Study, curve: Sequence[float]) -> bool:
        """Whether a running trial with this training-loss ``curve`` should stop now."""
        epoch = len(curve)
        if epoch < self.start_epoch:
            return False
        others = [
            estimate(finished.user_attrs[TRAIN_LOSS_ATTR][:epoch])
            for finished in study.get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
            )
            if len(finished.user_attrs.get(TRAIN_LOSS_ATTR, ())) >= epoch
        ]
        if len(others) < self.min_finished:
            return False
        cutoff = float(np.quantile(others, 1.0 - self.prune_fraction))
        return estimate(curve[:epoch]) > cutoff
