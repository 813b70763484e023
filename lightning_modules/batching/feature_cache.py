"""Cached descriptors (and their Jacobians) of a data set, for descriptor-based models.

The Chebyshev descriptor is the expensive part of training an ænet model,
and it does not depend on the network's weights. A cache keyed by (data
fingerprint, descriptor settings, structures with forces) holds every atom's
descriptor and, for the structures whose forces are used, the analytic
Jacobian dG_i/dR_k (dense per structure). Trials of a sweep that share
descriptor settings reuse it.

In a batch the model sees ``G + J (R - R.detach())``: the cached value, with
exactly the descriptor's gradient, so forces follow by autograd unchanged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from lightning_modules.data import AtomsData
from lightning_modules.geometry.neighbors import half_pairs, make_calculator, symmetric_pairs
from lightning_modules.models.descriptors import (
    ChebyshevDescriptor,
    chebyshev_descriptor,
    chebyshev_descriptor_jacobian,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureCache:
    """Descriptors [n_atoms_total, length] and Jacobians [n * length, n * 3] per chosen structure.

    A structure's Jacobian maps its atoms' displacements (n * 3, atom-major)
    to the change of its descriptors (n * length, atom-major): one matrix per
    structure, applied with a matrix-vector product.
    """

    features: torch.Tensor
    jacobians: dict[int, torch.Tensor]

    @property
    def nbytes(self) -> int:
        """Memory held by the descriptors and Jacobians, bytes."""
        tensors = [self.features, *self.jacobians.values()]
        return sum(t.numel() * t.element_size() for t in tensors)


def compute_features(
    descriptor: ChebyshevDescriptor, data: AtomsData, with_jacobian: np.ndarray
) -> FeatureCache:
    """Descriptors of every structure and Jacobians where ``with_jacobian`` [n_structures] is set."""
    settings = descriptor.settings
    calculator = make_calculator(settings.cutoff, full=False)
    spins_of = descriptor.spin_of_element.double()
    features = torch.zeros((int(data.n_atoms.sum()), settings.length), dtype=torch.float32)
    jacobians: dict[int, torch.Tensor] = {}
    offsets = data.atom_offsets
    start = time.perf_counter()
    with torch.no_grad():
        for k in range(len(data)):
            positions = data.positions[offsets[k] : offsets[k + 1]]
            i, j, shift = symmetric_pairs(
                *half_pairs(positions, settings.cutoff, data.cell[k], data.pbc[k], calculator)
            )
            numbers = torch.from_numpy(data.numbers[offsets[k] : offsets[k + 1]])
            idx_i, idx_j = torch.from_numpy(i), torch.from_numpy(j)
            vectors = torch.from_numpy(positions[j] - positions[i]) + torch.from_numpy(shift)
            spins_j = spins_of[numbers[idx_j]]
            n = len(numbers)
            features[offsets[k] : offsets[k + 1]] = chebyshev_descriptor(
                vectors, idx_i, spins_j, n, settings
            )
            if with_jacobian[k]:
                jacobians[k] = (
                    chebyshev_descriptor_jacobian(vectors, idx_i, idx_j, spins_j, n, settings)
                    .permute(0, 2, 1, 3)
                    .reshape(n * settings.length, n * 3)
                    .to(torch.float32)
                )
    cache = FeatureCache(features=features, jacobians=jacobians)
    logger.info(
        "descriptors of %d structures (%d with Jacobians; %.0f MiB in all) in %.1f s",
        len(data),
        len(jacobians),
        cache.nbytes / 2**20,
        time.perf_counter() - start,
    )
    return cache


def batch_features(
    cache: FeatureCache, data: AtomsData, indices: np.ndarray, dtype: torch.dtype
) -> dict[str, torch.Tensor | list[torch.Tensor]]:
    """The cached descriptors of a batch and the Jacobian entries of its structures that have one."""
    from lightning_modules import keys

    offsets = data.atom_offsets
    atom_index = np.concatenate([np.arange(offsets[k], offsets[k + 1]) for k in indices])
    result: dict[str, torch.Tensor | list[torch.Tensor]] = {
        keys.DESCRIPTOR: cache.features[torch.from_numpy(atom_index)].to(dtype)
    }
    blocks, layout = [], []
    start = 0
    for k in indices.tolist():
        n = int(data.n_atoms[k])
        if k in cache.jacobians:
            blocks.append(cache.jacobians[k].to(dtype))  # the cached tensor itself: no copy
            layout.append((start, n))
        start += n
    if blocks:
        result[keys.JACOBIAN] = blocks
        result[keys.JACOBIAN_BLOCKS] = torch.tensor(layout, dtype=torch.long)
    return result
