"""The LightningModule: loss, metrics and optimizer of any registered potential.

The model is rebuilt from ``model_name`` and ``model_config`` (saved as
hyperparameters), so a checkpoint restores itself with
:meth:`PotentialTask.load_from_checkpoint`.

Loss (standardised units, so that it does not depend on the data's scale):

    L = (1 - alpha) * L_E + alpha * L_F
    L_E = RMSE of per-atom energies / scale,  L_F = RMSE of force components / scale

with ``scale`` the residual energy scale (eV/atom) of the training split;
alpha is 0 without forces. The validation and test losses (``val_loss``,
``test_loss``: what ranks runs) weigh the same two terms by
``ranking_alpha`` where it is given, so that runs trained with different
alphas (a study that samples alpha) are ranked at one weight; by alpha
otherwise. ``loss="mae"`` takes the mean absolute error in
place of both RMSEs: the loss whose minimum is the MAE the metrics report,
and which a minority of wrong labels pulls far less than the RMSE does (a
label's pull on the fit no longer grows with its error).
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from lightning_modules import keys
from lightning_modules.conventions import LOSSES, MONITORED_METRIC
from lightning_modules.data.references import EnergyReference
from lightning_modules.errors import CheckpointError, CheckpointNotFound, UnsafeCheckpoint
from lightning_modules.file_digest import file_sha256
from lightning_modules.models.potential import Potential
from lightning_modules.models.registry import build_model
from lightning_modules.training.metrics import ErrorAccumulator

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adadelta": torch.optim.Adadelta,
    "adagrad": torch.optim.Adagrad,
    "adamax": torch.optim.Adamax,
    "sgd": torch.optim.SGD,
}
# the optimizers whose fused implementation (CPU and CUDA) computes the same update
FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)
STAGES = ("train", "val", "test")
LR_SCHEDULES = ("plateau", "cosine")


def error_norm(errors: torch.Tensor, loss: str) -> torch.Tensor:
    """The loss term of ``errors``: their root mean square (``rmse``) or mean absolute value (``mae``)."""
    if loss == "mae":
        return torch.mean(torch.abs(errors))
    return torch.sqrt(torch.mean(errors**2))


def check_training_choices(
    optimizer: str = "adam",
    lr_schedule: str = "plateau",
    alpha: float = 0.0,
    loss: str = "rmse",
    ranking_alpha: float | None = None,
) -> None:
    """Raise ValueError naming the fix for an unknown optimizer, schedule, loss or weight (in [0, 1])."""
    if str(optimizer).lower() not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {optimizer!r}; choose one of "
            f"{', '.join(optimizer_class.__name__ for optimizer_class in OPTIMIZERS.values())}"
        )
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; choose {' or '.join(LR_SCHEDULES)}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose {' or '.join(LOSSES)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (force weight) must be in [0, 1], got {alpha}")
    if ranking_alpha is not None and not 0.0 <= ranking_alpha <= 1.0:
        raise ValueError(
            f"ranking_alpha (--loss-alpha: the force weight that ranks runs) must be in [0, 1], "
            f"got {ranking_alpha}"
        )


class PotentialTask(pl.LightningModule):
    """Trains a :class:`Potential` on energies (and forces) and logs energy/force metrics."""

    def __init__(
        self,
        model_name: str = "schnet",
        model_config: dict[str, Any] | None = None,
        energy_reference: dict[str, Any] | None = None,
        optimizer: str = "adam",
        lr: float = 5e-4,
        weight_decay: float = 0.0,
        alpha: float = 0.0,
        lr_patience: int = 10,
        lr_factor: float = 0.5,
        monitor: str = MONITORED_METRIC,
        lr_schedule: str = "plateau",
        loss: str = "rmse",
        ranking_alpha: float | None = None,
    ) -> None:
        super().__init__()
        check_training_choices(optimizer, lr_schedule, alpha, loss, ranking_alpha)
        self.save_hyperparameters()
        self.model: Potential = build_model(model_name, dict(model_config or {}))
        if energy_reference is not None:
            self.model.set_energy_reference(EnergyReference.from_dict(energy_reference))
        self.alpha = float(alpha)
        # the weight of the validation and test losses, which rank runs
        self.ranking_alpha = float(alpha if ranking_alpha is None else ranking_alpha)
        self.metadata: dict[str, Any] = {}
        self._errors = {stage: ErrorAccumulator() for stage in STAGES}
        self._epoch_lr: float | None = None

    def forward(
        self, batch: dict[str, torch.Tensor], compute_forces: bool = False
    ) -> dict[str, torch.Tensor]:
        return self.model(batch, compute_forces=compute_forces, create_graph=self.training)

    def _uses_forces(self, batch: dict[str, torch.Tensor]) -> bool:
        return bool(batch[keys.HAS_FORCES].any())

    def _common_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        compute_forces = self._uses_forces(batch)
        with torch.enable_grad():
            predicted = self(batch, compute_forces=compute_forces)
        scale = self.model.energy_scale
        n_atoms = batch[keys.N_ATOMS]
        energy_error = predicted[keys.ENERGY] - batch[keys.ENERGY]  # [n_structures] eV, float64
        norm = self.hparams["loss"]
        energy_loss = error_norm(energy_error / n_atoms / scale, norm)
        force_error = None
        atom_has_forces = batch[keys.HAS_FORCES][batch[keys.IDX_M]]  # [n_atoms]
        loss = energy_loss
        if compute_forces:
            force_error = predicted[keys.FORCES] - batch[keys.FORCES]  # [n_atoms, 3] eV/A
            force_loss = error_norm(
                force_error[atom_has_forces] / scale.to(force_error.dtype), norm
            )
            weight = self.alpha if stage == "train" else self.ranking_alpha
            loss = (1.0 - weight) * energy_loss + weight * force_loss.to(energy_loss.dtype)
        self._errors[stage].update(
            energy_error,
            n_atoms,
            batch[keys.CLEAN],
            force_error,
            atom_has_forces,
            batch[keys.CLEAN][batch[keys.IDX_M]],
            batch.get(keys.OUTLIER),
        )
        loss = loss.to(torch.float32)
        self.log(
            f"{stage}_loss",
            loss,
            batch_size=int(n_atoms.shape[0]),
            on_epoch=True,
            on_step=False,
            prog_bar=stage != "test",
        )
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._common_step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._common_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._common_step(batch, "test")

    def predict_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        """Predicted and reference energies (eV) and the structure sizes of a batch."""
        return {
            "predicted": self(batch)[keys.ENERGY].detach(),
            "reference": batch[keys.ENERGY],
            "n_atoms": batch[keys.N_ATOMS],
        }

    def _log_epoch_metrics(self, stage: str) -> None:
        metrics = self._errors[stage].compute(stage)
        self._errors[stage].reset()
        monitor = self.hparams["monitor"]
        for name, value in metrics.items():
            self.log(name, value, prog_bar=name == monitor)

    def on_train_epoch_start(self) -> None:
        optimizer = self.trainer.optimizers[0]  # the rate this epoch trains with, before any step
        self._epoch_lr = float(optimizer.param_groups[0]["lr"])

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics("train")  # only when no validation ran this epoch

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._log_epoch_metrics("train")  # the epoch's training batches are all in
            if self._epoch_lr is not None:
                self.log("lr", self._epoch_lr)
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def configure_optimizers(self) -> Any:  # Lightning's optimizer/scheduler dict
        """The optimizer and its learning-rate schedule.

        ``plateau`` halves (``lr_factor``) the rate after ``lr_patience`` epochs
        without a better ``monitor``; ``cosine`` anneals it to zero over the
        trainer's ``max_epochs``, so a run of fixed length (a sweep's trial)
        ends on small steps and its last epochs are not noisy. Adam and AdamW
        run PyTorch's fused implementation on CPU and CUDA (the same update,
        one kernel for all parameters).
        """
        optimizer_class = OPTIMIZERS[self.hparams["optimizer"].lower()]
        trainable = [p for p in self.parameters() if p.requires_grad]  # frozen parts stay put
        options: dict[str, Any] = {}
        if optimizer_class in FUSED_OPTIMIZERS and {p.device.type for p in trainable} <= {
            "cpu",
            "cuda",
        }:
            options["fused"] = True  # one kernel for all parameters, not about ten per tensor
        optimizer = optimizer_class(
            trainable, lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"], **options
        )
        if self.hparams["lr_schedule"] == "cosine":
            max_epochs = self.trainer.max_epochs
            if max_epochs is None or max_epochs < 1:
                raise ValueError("lr_schedule cosine needs a trainer with max_epochs set")
            cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine}}
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=self.hparams["lr_factor"], patience=self.hparams["lr_patience"]
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.hparams["monitor"]},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["pesweep"] = dict(self.metadata)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.metadata = dict(checkpoint.get("pesweep", {}))


CHECKPOINT_DIGEST_TAG = "pesweep.checkpoint_sha256"  # a run's tag, and a version's through it


def verify_checkpoint(path: str | Path, recorded: str | None, what: str = "") -> None:
    """Refuse ``path`` (:class:`CheckpointError`) when its SHA-256 is not the ``recorded`` one.

    ``recorded`` None or empty: nothing was recorded (an older run), nothing to compare.
    """
    if not recorded:
        return
    found = file_sha256(path)
    if found != recorded:
        raise CheckpointError(
            f"{what or path} changed after its training finished (SHA-256 {found[:12]}... "
            f"is not the recorded {recorded[:12]}...): refused; retrain it or restore the file"
        )


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file's contents by a weights-only load: tensors and plain data, never code.

    A file that is unreadable, truncated or holds anything else (a pickled
    object that would run code) is a :class:`CheckpointError` naming the reason.
    """
    if not Path(path).is_file():
        raise CheckpointNotFound(f"{path}: no such checkpoint")
    try:
        with warnings.catch_warnings():  # torch's note on the pickle protocol of Lightning's files
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file that is no checkpoint
        raise refused(path, error) from error
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict in it)")
    return state


def refused(path: str | Path, error: BaseException) -> CheckpointError:
    """The error saying in one line why ``path`` was not loaded."""
    if isinstance(error, pickle.UnpicklingError) or "weights_only" in str(error).lower():
        return UnsafeCheckpoint(
            f"{path} holds objects a weights-only load refuses (pickled code or classes that "
            f"are no tensors): not loaded; use a checkpoint pesweep wrote"
        )
    first = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
    reason = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return CheckpointError(f"{path} is not a readable checkpoint ({reason})")


def load_task(checkpoint_path: str, map_location: str | torch.device = "cpu") -> PotentialTask:
    """Restore a trained task (model, references, metadata) from a checkpoint file.

    Weights-only: a file that holds more than tensors and plain data is refused
    (:class:`CheckpointError`) before anything in it runs.
    """
    if not Path(checkpoint_path).is_file():
        raise CheckpointNotFound(f"{checkpoint_path}: no such checkpoint")
    try:
        with warnings.catch_warnings():  # torch's note on the pickle protocol of Lightning's files
            warnings.simplefilter("ignore")
            task = PotentialTask.load_from_checkpoint(
                checkpoint_path, map_location=map_location, weights_only=True
            )
    except Exception as error:  # torch and Lightning raise many kinds for a non-checkpoint
        raise refused(checkpoint_path, error) from error
    task.eval()
    return task
