"""A trial's training-loss curve, recorded epoch by epoch for the estimation pruner.

:class:`TrainingLossCurve` averages the training loss of every epoch's batches,
writes the curve so far as the trial's user attribute
(:data:`hpo.study.estimation.TRAIN_LOSS_ATTR`: one storage write per epoch) and,
when the study's pruner is an :class:`~hpo.study.estimation.EstimationPruner`,
asks it whether to stop the trial (``optuna.TrialPruned``), for single- and
multi-objective studies alike. A retried trial starts from the epochs its lost
trial recorded, so its curve continues.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import optuna
from lightning.pytorch.callbacks import Callback

from hpo.study.estimation import TRAIN_LOSS_ATTR, EstimationPruner, estimate


class TrainingLossCurve(Callback):
    """Epoch-mean training losses as a trial attribute; the estimation pruner's decision."""

    def __init__(self, trial: optuna.Trial, earlier: Sequence[float] = ()) -> None:
        self.trial = trial
        self.curve = [float(value) for value in earlier]
        pruner = trial.study.pruner
        self.pruner = pruner if isinstance(pruner, EstimationPruner) else None
        self._total, self._batches = 0.0, 0

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        index: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is not None:
            self._total += float(loss.detach())
            self._batches += 1

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self._batches == 0:
            return
        self.curve.append(self._total / self._batches)
        self._total, self._batches = 0.0, 0
        self.trial.set_user_attr(TRAIN_LOSS_ATTR, self.curve)
        if self.pruner is not None and self.pruner.prune_curve(self.trial.study, self.curve):
            raise optuna.TrialPruned(
                f"epoch {len(self.curve)}: summed training loss {estimate(self.curve):.4g} is in "
                f"the worse {self.pruner.prune_fraction:.0%} of the finished trials' at that epoch"
            )


def earlier_curve(trial: optuna.Trial, lost_number: int, epochs: int) -> list[float]:
    """The first ``epochs`` of the curve that the lost trial ``lost_number`` recorded."""
    for lost in trial.study.get_trials(deepcopy=False):
        if lost.number == lost_number:
            return list(lost.user_attrs.get(TRAIN_LOSS_ATTR, []))[:epochs]
    return []
