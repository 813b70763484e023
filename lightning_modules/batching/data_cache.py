"""What is computed once per data set and reused by every epoch and trial: pairs and descriptors.

A :class:`DataCache` belongs to one data set (a prepared data set holds
one): neighbour pairs are kept per cutoff, descriptors (and their Jacobians)
per descriptor settings and set of structures with forces. Nothing is kept
at module level, so two data sets, or two studies in one process, never
share or evict each other's entries.
"""

from __future__ import annotations

import hashlib

import numpy as np

from lightning_modules.batching.batches import DatasetPairs, dataset_pairs
from lightning_modules.batching.feature_cache import FeatureCache, compute_features
from lightning_modules.data import AtomsData
from lightning_modules.models.descriptors import ChebyshevDescriptor


class DataCache:
    """Neighbour pairs and descriptors of ``data``, keyed by their settings."""

    def __init__(self, data: AtomsData) -> None:
        self.data = data
        self._pairs: dict[float, DatasetPairs] = {}
        self._features: dict[tuple[str, str], FeatureCache] = {}

    def pairs(self, cutoff: float) -> DatasetPairs:
        """Unordered neighbour pairs within ``cutoff`` (Angstrom), computed once per cutoff."""
        key = float(cutoff)
        if key not in self._pairs:
            self._pairs[key] = dataset_pairs(self.data, key)
        return self._pairs[key]

    def features(self, descriptor: ChebyshevDescriptor, with_jacobian: np.ndarray) -> FeatureCache:
        """Descriptors of every structure, Jacobians where ``with_jacobian``; computed once each."""
        key = (
            repr(descriptor.settings),
            hashlib.sha256(np.packbits(with_jacobian).tobytes()).hexdigest(),
        )
        if key not in self._features:
            self._features[key] = compute_features(descriptor, self.data, with_jacobian)
        return self._features[key]
