"""The data set's cache of pairs and descriptors: reused while it fits, bounded when it does not."""

from __future__ import annotations

import numpy as np
import pytest

import lightning_modules.batching.data_cache as data_cache_module
from lightning_modules.batching.data_cache import DataCache
from lightning_modules.data import load_data
from lightning_modules.models.descriptors import ChebyshevDescriptor, ChebyshevSettings
from tests.support.data import shared_file


@pytest.fixture(scope="module")
def tio2_cells():
    data = load_data(shared_file("tio2_aenet/dir_xsf.tar.gz"))
    return data.subset(np.flatnonzero(data.n_atoms <= 12)[:30])


def descriptor(radial_cutoff: float) -> ChebyshevDescriptor:
    return ChebyshevDescriptor(ChebyshevSettings((22, 8), 6, radial_cutoff, 3, 3.5))


@pytest.fixture
def computed(monkeypatch) -> list[float]:
    """The radial cutoff of every descriptor computation the cache asks for."""
    calls: list[float] = []
    original = data_cache_module.compute_features

    def counted(descriptor, data, with_jacobian):
        calls.append(descriptor.settings.radial_cutoff)
        return original(descriptor, data, with_jacobian)

    monkeypatch.setattr(data_cache_module, "compute_features", counted)
    return calls


def test_descriptors_are_computed_once_per_setting_while_they_fit(tio2_cells, computed) -> None:
    cache = DataCache(tio2_cells)
    forces = tio2_cells.has_forces.copy()
    first = cache.features(descriptor(4.0), forces)
    cache.features(descriptor(4.5), forces)
    assert cache.features(descriptor(4.0), forces) is first
    assert computed == [4.0, 4.5]


def test_a_sweep_over_a_cutoff_range_holds_at_most_its_budget(tio2_cells, computed) -> None:
    """Each trial of a continuous cutoff range makes a new entry; beyond the budget the least
    recently used goes, and the one in use stays."""
    forces = tio2_cells.has_forces.copy()
    one = DataCache(tio2_cells).features(descriptor(4.0), forces)
    size = one.features.numel() * 4 + sum(j.numel() * 4 for j in one.jacobians.values())
    cache = DataCache(tio2_cells, max_bytes=int(2.5 * size))  # room for two entries
    computed.clear()
    for cutoff in (4.0, 4.5, 4.0, 5.0, 5.5, 6.0):  # 4.0 used again before 5.0 comes
        cache.features(descriptor(cutoff), forces)
        assert cache.nbytes <= 2 * size
    assert computed == [4.0, 4.5, 5.0, 5.5, 6.0]
    cache.features(descriptor(5.5), forces)  # the two most recent are kept
    cache.features(descriptor(4.5), forces)  # an evicted one is computed again
    assert computed[-1] == 4.5 and len(computed) == 6


def test_the_entry_in_use_stays_even_beyond_the_budget(tio2_cells) -> None:
    cache = DataCache(tio2_cells, max_bytes=1)
    forces = tio2_cells.has_forces.copy()
    features = cache.features(descriptor(4.0), forces)
    assert cache.features(descriptor(4.0), forces) is features
    pairs = cache.pairs(4.0)
    assert cache.pairs(4.0) is pairs
    cache.pairs(5.0)
    assert cache.pairs(4.0) is not pairs  # evicted by 5.0, computed again
    np.testing.assert_array_equal(cache.pairs(4.0).i, pairs.i)


def test_descriptors_whose_jacobians_cover_the_asked_ones_serve(tio2_cells, computed) -> None:
    """An evaluation of energies (no Jacobians) reuses a training's descriptors; a request for
    Jacobians the cached entry lacks computes its own."""
    cache = DataCache(tio2_cells)
    quarter = np.zeros(len(tio2_cells), dtype=bool)
    quarter[::4] = True
    trained = cache.features(descriptor(4.0), quarter)
    assert cache.features(descriptor(4.0), np.zeros_like(quarter)) is trained
    assert cache.features(descriptor(4.0), quarter & (np.arange(len(quarter)) < 10)) is trained
    everything = cache.features(descriptor(4.0), np.ones_like(quarter))
    assert everything is not trained and set(everything.jacobians) == set(range(len(quarter)))
    assert cache.features(descriptor(4.5), np.zeros_like(quarter)) is not everything
    assert computed == [4.0, 4.0, 4.5]
