"""Neighbour lists against brute force and ASE, clusters and periodic cells."""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list

from lightning_modules.geometry.neighbors import (
    half_pairs,
    minimum_distance,
    neighbor_list,
    pair_vectors,
)


def test_cluster_pairs_equal_brute_force(seb20_small) -> None:
    positions = seb20_small.positions[seb20_small.atoms_of(0)]
    pairs = neighbor_list(positions, 3.0)
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    expected = {
        (i, j)
        for i in range(len(positions))
        for j in range(len(positions))
        if i != j and distances[i, j] < 3.0
    }
    assert set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=False)) == expected


def test_periodic_pairs_equal_ase() -> None:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=1)
    pairs = neighbor_list(atoms.positions, 4.0, atoms.cell.array, atoms.pbc)
    i, j, d = ase_neighbor_list("ijd", atoms, 4.0)
    ours = np.sort(np.linalg.norm(pair_vectors(atoms.positions, pairs, atoms.cell.array), axis=1))
    assert len(pairs.i) == len(i)
    np.testing.assert_allclose(ours, np.sort(d), atol=1e-10)
    assert abs(minimum_distance(atoms.positions, atoms.cell.array, atoms.pbc) - d.min()) < 1e-10


def test_half_pairs_give_each_pair_once_with_its_image_vector() -> None:
    """Periodic: ASE's distances, each pair once; a cluster: zero shifts, its cell never read."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=1)
    i, j, shifts = half_pairs(atoms.positions, 4.0, atoms.cell.array, atoms.pbc)
    distances = np.linalg.norm(atoms.positions[j] - atoms.positions[i] + shifts, axis=1)
    _, _, d = ase_neighbor_list("ijd", atoms, 4.0)
    np.testing.assert_allclose(np.sort(np.repeat(distances, 2)), np.sort(d), atol=1e-10)
    cluster = atoms.positions[:8]
    i, j, shifts = half_pairs(cluster, 4.0, np.full((3, 3), np.nan), np.zeros(3, bool))
    assert len(i) > 0 and np.all(i < j) and not shifts.any()


def test_batches_follow_the_pair_order_contract() -> None:
    """Second half of the pairs = first half reversed (keys.py), also across periodic images."""
    import torch

    from lightning_modules import keys
    from lightning_modules.batching.batches import atoms_to_batch

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=2)
    batch = atoms_to_batch(
        atoms.numbers, atoms.positions, 4.0, atoms.cell.array, atoms.pbc, dtype=torch.float64
    )
    i, j, shift = batch[keys.IDX_I], batch[keys.IDX_J], batch[keys.PAIR_SHIFT]
    n = len(i) // 2
    assert torch.equal(i[n:], j[:n]) and torch.equal(j[n:], i[:n])
    positions = batch[keys.R]
    vectors = positions[j] - positions[i] + shift
    torch.testing.assert_close(vectors[n:], -vectors[:n])
    _, _, d = ase_neighbor_list("ijd", atoms, 4.0)
    np.testing.assert_allclose(np.sort(vectors.norm(dim=1).numpy()), np.sort(d), atol=1e-10)
