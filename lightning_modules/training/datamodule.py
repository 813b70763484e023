"""LightningDataModule over a prepared data set (:mod:`lightning_modules.training.prepared`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from lightning_modules.batching.batches import BatchCollator, check_pair_count
from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.data import AtomsData, load_data
from lightning_modules.data.audit import AuditReport
from lightning_modules.data.references import EnergyReference
from lightning_modules.training.prepared import DataSettings, PreparedData

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class EpochShuffle(Sampler[int]):
    """The order (positions 0..n-1) of an epoch's ``n`` samples, a function of (seed, epoch) alone.

    It draws what a shuffling ``DataLoader`` with a generator seeded by ``seed``
    draws over its first ``epoch + 1`` epochs (per epoch: the loader's 64-bit
    base seed, torch's ``RandomSampler`` permutation, and its second, empty
    one) and yields the last epoch's permutation: the order of one
    uninterrupted run, also for a run resumed from a checkpoint, because
    Lightning calls :meth:`set_epoch` with the restored epoch.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = int(n)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epoch + 1):
            torch.empty((), dtype=torch.int64).random_(generator=generator)
            order = torch.randperm(self.n, generator=generator)
            torch.randperm(self.n, generator=generator)  # RandomSampler's remainder draw
        return iter(order.tolist())


class PotentialDataModule(pl.LightningDataModule):
    """Data for one training run: validated structures, audit, seeded split, references.

    ``data`` is one or more file paths (read with ``energy_unit``), an
    :class:`AtomsData` already in memory, or a :class:`PreparedData` made once
    for a whole study (then nothing is audited, split or fitted again, and its
    cache of neighbour pairs and descriptors serves this run; its settings are
    its own). ``settings`` (:class:`DataSettings`) say how the data are
    prepared: split, audit bound, dropped structures, force fraction, given
    element references. Metrics are reported on the full set, on the
    audit-clean subset and on the robust outliers within the bound.
    """

    def __init__(
        self,
        data: str | Path | Sequence[str | Path] | AtomsData | PreparedData,
        energy_unit: str = DEFAULT_ENERGY_UNIT,
        cutoff: float = 5.0,
        batch_size: int = 32,
        settings: DataSettings | None = None,
        dtype: str = "float32",
        split_override: dict[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.source = data
        self.energy_unit = energy_unit
        self.cutoff = float(cutoff)
        self.batch_size = int(batch_size)
        self.settings = settings or DataSettings()
        self.dtype = DTYPES[dtype]
        self.split_override = split_override
        self.prepared: PreparedData | None = None
        self.data: AtomsData | None = None
        self.audit: AuditReport | None = None
        self.split: dict[str, np.ndarray] = {}
        self.energy_reference: EnergyReference | None = None
        self._collator: BatchCollator | None = None

    @property
    def has_forces(self) -> bool:
        return self.data is not None and bool(self.data.has_forces.any())

    def setup(self, stage: str | None = None) -> None:
        if self.prepared is not None:
            return
        if isinstance(self.source, PreparedData):
            prepared = self.source
        else:
            data = (
                self.source
                if isinstance(self.source, AtomsData)
                else load_data(
                    list(self.source)
                    if isinstance(self.source, (list, tuple))
                    else [str(self.source)],
                    self.energy_unit,
                )
            )
            prepared = PreparedData.prepare(data, self.settings, self.split_override)
        check_pair_count(prepared.data, self.cutoff)  # a cutoff far larger than the cells
        self.prepared = prepared
        self.data, self.audit, self.split = prepared.data, prepared.audit, prepared.split
        self.energy_reference = prepared.energy_reference
        self._collator = BatchCollator(
            prepared.data,
            partial(prepared.cache.pairs, self.cutoff),
            prepared.audit.clean,
            prepared.use_forces,
            self.dtype,
            prepared.audit.outliers,
        )

    @property
    def structures_with_forces(self) -> np.ndarray:
        """[n_structures] bool: forces enter the loss (train) or the metrics (val, test)."""
        assert self._collator is not None, "call setup() first"
        return self._collator.use_forces

    def attach_features(self, features: object) -> None:
        """Cached model inputs (from ``Potential.precompute``) to add to every batch."""
        assert self._collator is not None, "call setup() first"
        self._collator.attach_features(features)  # type: ignore[arg-type]

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        assert self._collator is not None, "call setup() first"
        indices = self.split[name]
        return DataLoader(
            indices.tolist(),
            batch_size=self.batch_size,
            sampler=EpochShuffle(len(indices), self.settings.seed) if shuffle else None,
            collate_fn=self._collator,
            # the loader draws its base seed from this, as it did when it shuffled itself
            generator=torch.Generator().manual_seed(self.settings.seed) if shuffle else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def loader_for(self, indices: np.ndarray) -> DataLoader:
        """A loader (in order) over any structure indices of the data."""
        assert self._collator is not None, "call setup() first"
        return DataLoader(indices.tolist(), batch_size=self.batch_size, collate_fn=self._collator)
