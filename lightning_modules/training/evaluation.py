"""Evaluating a trained model on the split recorded in its checkpoint."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from lightning_modules import keys
from lightning_modules.data import AtomsData
from lightning_modules.training.datamodule import PotentialDataModule
from lightning_modules.training.task import PotentialTask


def split_loader(
    task: PotentialTask, data: AtomsData, split: str = "test", batch_size: int = 64
) -> DataLoader:
    """Batches, in order, of the structures of ``data`` in the checkpoint's recorded ``split``."""
    module = PotentialDataModule(data, cutoff=task.model.cutoff, batch_size=batch_size)
    module.setup()
    return module.loader_for(np.asarray(task.metadata["split"][split], dtype=np.int64))


def predict_energies(task: PotentialTask, loader: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference, predicted, n_atoms) over a loader's batches (energies in eV)."""
    references, predictions, sizes = [], [], []
    with torch.no_grad():
        for batch in loader:
            predictions.append(task(batch)[keys.ENERGY].cpu().numpy())
            references.append(batch[keys.ENERGY].cpu().numpy())
            sizes.append(batch[keys.N_ATOMS].cpu().numpy())
    return np.concatenate(references), np.concatenate(predictions), np.concatenate(sizes)
