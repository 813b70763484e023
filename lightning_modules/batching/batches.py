"""Neighbour pairs of a whole data set, and the collate function that builds flat batches.

Pairs are computed once per (data fingerprint, cutoff) and kept in a small
in-process cache, so the trials of a sweep that share a cutoff reuse them.
A batch concatenates the atoms of its structures; pair indices are offset
to point into the concatenated atoms (no Python loop over pairs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

from lightning_modules import keys
from lightning_modules.batching.feature_cache import FeatureCache, batch_features
from lightning_modules.data import AtomsData, DataError
from lightning_modules.geometry.neighbors import (
    cluster_half_pairs,
    half_pairs,
    make_calculator,
    symmetric_pairs,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetPairs:
    """Unordered neighbour pairs of every structure (each pair once), concatenated.

    ``i``/``j`` are atom indices local to their structure; ``shifts`` [n_pairs, 3]
    are Cartesian periodic shifts (Angstrom); ``offsets`` [n_structures + 1]
    delimit each structure's pairs. Batches hold them in both directions.
    """

    i: np.ndarray
    j: np.ndarray
    shifts: np.ndarray
    offsets: np.ndarray
    cutoff: float

    @property
    def nbytes(self) -> int:
        """Memory held by the pair arrays, bytes."""
        return self.i.nbytes + self.j.nbytes + self.shifts.nbytes + self.offsets.nbytes


MAX_PAIRS = 100_000_000  # about 5 GB of pair indices and shifts
PAIR_BYTES = 2 * 8 + 3 * 8  # i and j (int64), the shift vector (float64)


def expected_pairs(data: AtomsData, cutoff: float) -> float:
    """The unordered pairs within ``cutoff`` of the periodic structures, from their density.

    n atoms at density n/V have about n * (n/V) * (4/3) pi rc^3 / 2 neighbours in
    range; what matters is a cutoff far larger than the cell, which this estimates
    well. Clusters count as at most n(n-1)/2.
    """
    counts = np.diff(data.atom_offsets)
    total = 0.0
    for k, n in enumerate(counts):
        if data.is_periodic(k):
            volume = abs(float(np.linalg.det(data.cell[k])))
            if volume > 0:
                total += n * (n / volume) * 4.0 / 3.0 * np.pi * cutoff**3 / 2.0
                continue
        total += n * (n - 1) / 2.0
    return total


def check_pair_count(data: AtomsData, cutoff: float) -> None:
    """Refuse a cutoff whose neighbour pairs would not fit in memory, before building any."""
    expected = expected_pairs(data, cutoff)
    if expected > MAX_PAIRS:
        periodic = [k for k in range(len(data)) if data.is_periodic(k)]
        smallest = min(abs(float(np.linalg.det(data.cell[k]))) for k in periodic) if periodic else 0
        raise DataError(
            f"a cutoff of {cutoff:g} A gives about {expected:.2g} neighbour pairs "
            f"({expected * PAIR_BYTES / 2**30:.0f} GiB) on these periodic structures (smallest "
            f"cell {smallest:.3g} A^3); choose a cutoff near the cell's size or below"
        )


def dataset_pairs(data: AtomsData, cutoff: float) -> DatasetPairs:
    """Neighbour pairs within ``cutoff`` (Angstrom) of all structures (see :class:`DataCache`)."""
    check_pair_count(data, cutoff)
    calculator = make_calculator(cutoff, full=False)
    i_parts, j_parts, shift_parts, counts = [], [], [], []
    atom_offsets = data.atom_offsets
    for k in range(len(data)):
        positions = data.positions[atom_offsets[k] : atom_offsets[k + 1]]
        i, j, shifts = half_pairs(positions, cutoff, data.cell[k], data.pbc[k], calculator)
        i_parts.append(i)
        j_parts.append(j)
        shift_parts.append(shifts)
        counts.append(len(i))
    result = DatasetPairs(
        i=np.concatenate(i_parts),
        j=np.concatenate(j_parts),
        shifts=np.concatenate(shift_parts),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        cutoff=float(cutoff),
    )
    logger.debug("neighbour pairs for cutoff %.2f A: %d", cutoff, len(result.i))
    return result


class BatchCollator:
    """Callable that turns a list of structure indices into a flat batch of tensors.

    ``pairs``: the neighbour pairs, or a function returning them, called when
    a batch first needs pairs (never, when cached descriptors replace them).
    ``clean`` [n_structures] bool marks audit-clean structures, ``outliers``
    the robust outliers among them (none when not given); ``use_forces``
    [n_structures] bool marks structures whose forces enter the loss.
    Positions, shifts and forces are given ``dtype``; energies stay float64 (eV).
    """

    def __init__(
        self,
        data: AtomsData,
        pairs: DatasetPairs | Callable[[], DatasetPairs],
        clean: np.ndarray,
        use_forces: np.ndarray,
        dtype: torch.dtype = torch.float32,
        outliers: np.ndarray | None = None,
    ) -> None:
        self.data = data
        self._pairs = pairs
        self.clean = clean
        self.outliers = outliers if outliers is not None else np.zeros_like(clean)
        self.use_forces = use_forces
        self.dtype = dtype
        self.atom_offsets = data.atom_offsets
        self.features: FeatureCache | None = None  # set for descriptor-based models

    @property
    def pairs(self) -> DatasetPairs:
        if not isinstance(self._pairs, DatasetPairs):
            self._pairs = self._pairs()
        return self._pairs

    def attach_features(self, features: FeatureCache | None) -> None:
        """Add cached descriptors (and Jacobians) to every batch from now on.

        Batches then carry no neighbour pairs: the cached descriptors replace them.
        """
        self.features = features

    def __call__(
        self, indices: list[int] | np.ndarray
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        indices = np.asarray(indices, dtype=np.int64)
        data = self.data
        atom_ranges = [np.arange(self.atom_offsets[k], self.atom_offsets[k + 1]) for k in indices]
        atom_index = np.concatenate(atom_ranges)
        n_atoms = data.n_atoms[indices]
        batch_atom_start = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
        if self.features is None:
            pairs = self.pairs
            pair_index = np.concatenate(
                [np.arange(pairs.offsets[k], pairs.offsets[k + 1]) for k in indices]
            )
            pair_counts = pairs.offsets[indices + 1] - pairs.offsets[indices]
            pair_start = np.repeat(batch_atom_start, pair_counts)
            idx_i, idx_j, shifts = symmetric_pairs(
                pairs.i[pair_index] + pair_start,
                pairs.j[pair_index] + pair_start,
                pairs.shifts[pair_index],
            )
        else:  # cached descriptors replace the pairs
            idx_i = idx_j = np.zeros(0, dtype=np.int64)
            shifts = np.zeros((0, 3))
        batch: dict[str, torch.Tensor | list[torch.Tensor]] = {
            keys.Z: torch.from_numpy(data.numbers[atom_index]),
            keys.R: torch.as_tensor(data.positions[atom_index], dtype=self.dtype),
            keys.CELL: torch.as_tensor(data.cell[indices], dtype=self.dtype),
            keys.N_ATOMS: torch.from_numpy(n_atoms),
            keys.IDX_M: torch.from_numpy(np.repeat(np.arange(len(indices)), n_atoms)),
            keys.IDX_I: torch.from_numpy(idx_i),
            keys.IDX_J: torch.from_numpy(idx_j),
            keys.PAIR_SHIFT: torch.as_tensor(shifts, dtype=self.dtype),
            keys.ENERGY: torch.from_numpy(data.energy[indices]),
            keys.FORCES: torch.as_tensor(data.forces[atom_index], dtype=self.dtype),
            keys.HAS_FORCES: torch.from_numpy(self.use_forces[indices]),
            keys.CLEAN: torch.from_numpy(self.clean[indices]),
            keys.OUTLIER: torch.from_numpy(self.outliers[indices]),
            keys.INDEX: torch.from_numpy(indices),
        }
        if self.features is not None:
            batch.update(batch_features(self.features, data, indices, self.dtype))
        return batch

    def uncached(self, indices: list[int] | np.ndarray, cutoff: float) -> dict[str, torch.Tensor]:
        """A batch of the structures at ``indices`` as a model meets new ones.

        Their neighbour pairs are computed now at ``cutoff`` (of these
        structures only), and no cached descriptors come with it: the model
        computes its own inputs, as it does in inference (timing it measures that).
        """
        indices = np.asarray(indices, dtype=np.int64)
        subset = self.data.subset(indices)
        collator = BatchCollator(
            subset,
            dataset_pairs(subset, cutoff),
            self.clean[indices],
            self.use_forces[indices],
            self.dtype,
            self.outliers[indices],
        )
        return cast(dict[str, torch.Tensor], collator(np.arange(len(indices))))


def atoms_to_batch(
    numbers: np.ndarray,
    positions: np.ndarray,
    cutoff: float,
    cell: np.ndarray | None = None,
    pbc: np.ndarray | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """A one-structure batch (no labels) from atomic numbers and positions (Angstrom)."""
    idx_i, idx_j, shifts = symmetric_pairs(*half_pairs(positions, cutoff, cell, pbc))
    n = len(numbers)
    return {
        keys.Z: torch.as_tensor(np.asarray(numbers, dtype=np.int64)),
        keys.R: torch.as_tensor(np.asarray(positions), dtype=dtype),
        keys.CELL: torch.as_tensor(
            np.asarray(cell if cell is not None else np.zeros((3, 3)))[None], dtype=dtype
        ),
        keys.N_ATOMS: torch.tensor([n]),
        keys.IDX_M: torch.zeros(n, dtype=torch.int64),
        keys.IDX_I: torch.as_tensor(idx_i),
        keys.IDX_J: torch.as_tensor(idx_j),
        keys.PAIR_SHIFT: torch.as_tensor(shifts, dtype=dtype),
    }


def replicas_to_batch(
    numbers: np.ndarray,
    positions: np.ndarray,
    cutoff: float,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """A batch (no labels) of ``r`` non-periodic structures of the same atoms, from
    (r, n, 3) positions (Angstrom): the replicas of one MD check, evaluated in one call."""
    replicas, n = len(positions), len(numbers)
    pairs = cluster_half_pairs(positions, cutoff)
    half_i = np.concatenate([i + k * n for k, (i, _) in enumerate(pairs)])
    half_j = np.concatenate([j + k * n for k, (_, j) in enumerate(pairs)])
    idx_i, idx_j, shifts = symmetric_pairs(half_i, half_j, np.zeros((len(half_i), 3)))
    return {
        keys.Z: torch.as_tensor(np.tile(np.asarray(numbers, dtype=np.int64), replicas)),
        keys.R: torch.as_tensor(np.asarray(positions).reshape(-1, 3), dtype=dtype),
        keys.CELL: torch.zeros((replicas, 3, 3), dtype=dtype),
        keys.N_ATOMS: torch.full((replicas,), n),
        keys.IDX_M: torch.arange(replicas).repeat_interleave(n),
        keys.IDX_I: torch.as_tensor(idx_i),
        keys.IDX_J: torch.as_tensor(idx_j),
        keys.PAIR_SHIFT: torch.as_tensor(shifts, dtype=dtype),
    }
