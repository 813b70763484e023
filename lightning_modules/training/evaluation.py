"""Evaluating a trained model on the split recorded in its checkpoint."""

from __future__ import annotations

from typing import Any, cast

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from lightning_modules.data import AtomsData
from lightning_modules.training.datamodule import PotentialDataModule
from lightning_modules.training.environment import trainer_plugins, without_srun_warning
from lightning_modules.training.prepared import PreparedData
from lightning_modules.training.task import PotentialTask


def split_loader(
    task: PotentialTask,
    data: AtomsData | PreparedData,
    split: str = "test",
    batch_size: int = 64,
    energies_only: bool = False,
) -> DataLoader:
    """Batches, in order, of the structures of ``data`` in the checkpoint's recorded ``split``.

    A :class:`PreparedData` (a sweep's) lends its cache of neighbour pairs,
    and with ``energies_only`` (batches for energies, never forces) the model's
    cached inputs without derivatives: an ænet trial's descriptors, which its
    training has just computed, are not computed again. Plain data is prepared
    here, and the model computes its own inputs.
    """
    module = _data_module(task, data, batch_size)
    if energies_only and isinstance(data, PreparedData):
        assert module.data is not None and module.prepared is not None
        no_forces = np.zeros(len(module.data), dtype=bool)
        module.attach_features(task.model.precompute(module.prepared.cache, no_forces))
    return module.loader_for(np.asarray(task.metadata["split"][split], dtype=np.int64))


def _data_module(
    task: PotentialTask, data: AtomsData | PreparedData, batch_size: int
) -> PotentialDataModule:
    module = PotentialDataModule(data, cutoff=task.model.cutoff, batch_size=batch_size)
    module.setup()
    return module


def energy_errors_per_atom(
    task: PotentialTask, data: AtomsData, accelerator: str = "auto", batch_size: int = 64
) -> np.ndarray:
    """|E - E_pred| / n_atoms (eV/atom) of every structure of ``data``, in order."""
    module = _data_module(task, data, batch_size)
    loader = module.loader_for(np.arange(len(data)))
    reference, predicted, n_atoms = predict_energies(task, loader, accelerator)
    return np.abs(reference - predicted) / n_atoms


def predict_energies(
    task: PotentialTask, loader: Any, accelerator: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference, predicted, n_atoms) over a loader's batches (energies in eV).

    Runs the task's own ``predict_step`` through ``Trainer.predict``.
    """
    trainer = pl.Trainer(
        plugins=trainer_plugins(),
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    with without_srun_warning():
        predicted = trainer.predict(task, dataloaders=loader)
    outputs = cast(list[dict[str, torch.Tensor]], predicted)

    def gathered(name: str) -> np.ndarray:
        return np.concatenate([batch[name].cpu().numpy() for batch in outputs])

    return gathered("reference"), gathered("predicted"), gathered("n_atoms")
