"""Descriptor Jacobians are dense per structure: beyond half the memory they are refused first."""

from __future__ import annotations

import numpy as np
import pytest

import lightning_modules.batching.feature_cache as feature_cache
from lightning_modules.data import DataError, load_data
from lightning_modules.models.descriptors import ChebyshevDescriptor, ChebyshevSettings
from tests.support.data import shared_file


@pytest.fixture(scope="module")
def tio2_cells():
    data = load_data(shared_file("tio2_aenet/dir_xsf.tar.gz"))
    return data.subset(np.flatnonzero(data.n_atoms <= 12)[:20])


def test_jacobians_beyond_half_the_memory_are_refused_before_any_is_computed(
    tio2_cells, monkeypatch
) -> None:
    descriptor = ChebyshevDescriptor(ChebyshevSettings((22, 8), 6, 4.0, 3, 3.5))
    with_forces = np.ones(len(tio2_cells), dtype=bool)
    needed = int((tio2_cells.n_atoms**2).sum()) * descriptor.length * 3 * 4
    computed = []
    original = feature_cache.structure_features

    def counted(*arguments):
        computed.append(1)
        return original(*arguments)

    monkeypatch.setattr(feature_cache, "structure_features", counted)
    monkeypatch.setattr(feature_cache, "memory_limit", lambda: 2 * needed - 2)
    with pytest.raises(DataError, match=r"more than half of .* lower force_fraction"):
        feature_cache.compute_features(descriptor, tio2_cells, with_forces)
    assert not computed
    monkeypatch.setattr(feature_cache, "memory_limit", lambda: 2 * needed)
    cache = feature_cache.compute_features(descriptor, tio2_cells, with_forces)
    assert cache.nbytes - cache.features.numel() * 4 == needed  # the estimate is exact
    assert len(computed) == len(tio2_cells)


def test_the_memory_limit_is_the_machines_or_smaller() -> None:
    import os

    limit = feature_cache.memory_limit()
    assert limit is not None and 0 < limit <= os.sysconf("SC_PAGE_SIZE") * os.sysconf(
        "SC_PHYS_PAGES"
    )
