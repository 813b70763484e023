"""What is computed once per data set and reused by every epoch and trial: pairs and descriptors.

A :class:`DataCache` belongs to one data set (a prepared data set holds
one): neighbour pairs are kept per cutoff, descriptors (and their Jacobians)
per descriptor settings and set of structures with forces. Nothing is kept
at module level, so two data sets, or two studies in one process, never
share or evict each other's entries.

Entries are kept up to a memory budget, the least recently used evicted
first: a sweep that samples its cutoffs from a range makes a new entry per
trial, none of which a later trial reuses, and an unbounded cache held
them all (0.25-0.46 GiB a trial for ænet on the 1000 TiO2 structures with
all forces used). The entry in use is always kept, whatever its size.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

import numpy as np

from lightning_modules.batching.batches import DatasetPairs, dataset_pairs
from lightning_modules.batching.feature_cache import FeatureCache, compute_features
from lightning_modules.data import AtomsData
from lightning_modules.models.descriptors import ChebyshevDescriptor

logger = logging.getLogger(__name__)

CACHE_BYTES = 2**30  # per kind of entry (pairs, descriptors) of one data set


class _Sized(Protocol):
    @property
    def nbytes(self) -> int: ...


Key = TypeVar("Key", bound=Hashable)
Entry = TypeVar("Entry", bound=_Sized)


class _LeastRecentlyUsed(Generic[Key, Entry]):
    """Entries by key, evicted least recently used first beyond ``max_bytes`` (the newest stays)."""

    def __init__(self, max_bytes: int, kind: str) -> None:
        self.max_bytes = max_bytes
        self._kind = kind
        self._entries: OrderedDict[Key, Entry] = OrderedDict()

    def get(self, key: Key, compute: Callable[[], Entry]) -> Entry:
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        entry = compute()
        self._entries[key] = entry
        while len(self._entries) > 1 and self.nbytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            logger.debug("dropped cached %s (%.0f MiB)", self._kind, dropped.nbytes / 2**20)
        return entry

    def find(self, serves: Callable[[Key, Entry], bool]) -> Key | None:
        """The key of the most recently used entry that ``serves`` accepts, or None."""
        for key in reversed(self._entries):
            if serves(key, self._entries[key]):
                return key
        return None

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())


class DataCache:
    """Neighbour pairs and descriptors of ``data``, keyed by their settings.

    ``max_bytes`` bounds each kind of entry (pairs, descriptors): beyond it the
    least recently used go, the one just asked for stays.
    """

    def __init__(self, data: AtomsData, max_bytes: int = CACHE_BYTES) -> None:
        self.data = data
        self._pairs: _LeastRecentlyUsed[float, DatasetPairs] = _LeastRecentlyUsed(
            max_bytes, "neighbour pairs"
        )
        self._features: _LeastRecentlyUsed[tuple[str, str], FeatureCache] = _LeastRecentlyUsed(
            max_bytes, "descriptors"
        )

    def pairs(self, cutoff: float) -> DatasetPairs:
        """Unordered neighbour pairs within ``cutoff`` (Angstrom), computed once per cutoff."""
        key = float(cutoff)
        return self._pairs.get(key, lambda: dataset_pairs(self.data, key))

    def features(self, descriptor: ChebyshevDescriptor, with_jacobian: np.ndarray) -> FeatureCache:
        """Descriptors of every structure, Jacobians where ``with_jacobian``; computed once each.

        Cached descriptors of the same settings whose Jacobians cover the asked
        ones serve as they are (an evaluation of energies alone, which asks for
        none, reuses what its training computed).
        """
        settings = repr(descriptor.settings)
        needed = np.flatnonzero(with_jacobian).tolist()
        key = self._features.find(
            lambda cached, entry: (
                cached[0] == settings and all(k in entry.jacobians for k in needed)
            )
        )
        if key is None:
            key = (settings, hashlib.sha256(np.packbits(with_jacobian).tobytes()).hexdigest())
        return self._features.get(
            key, lambda: compute_features(descriptor, self.data, with_jacobian)
        )

    @property
    def nbytes(self) -> int:
        """Memory held by the cached pairs and descriptors, bytes."""
        return self._pairs.nbytes + self._features.nbytes
