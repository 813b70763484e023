"""ænet's Chebyshev descriptor against the Fortran reference values, and its symmetries."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
import torch
from ase.data import atomic_numbers
from scipy.spatial.transform import Rotation

from lightning_modules import keys
from lightning_modules.batching.batches import atoms_to_batch
from lightning_modules.models.descriptors import ChebyshevDescriptor, ChebyshevSettings, type_spins
from tests.support.data import shared_file

CASES = [
    ("water.xyz", ["O", "H"], 10, 4.0, 3, 1.5, "water_ref.csv"),
    ("aucu.xsf", ["Au", "Cu"], 5, 3.5, 5, 3.5, "aucu_ref.csv"),
    ("lmnto_structure001.xsf", ["Li", "Mo", "Ni", "Ti", "O"], 10, 4.0, 3, 1.5, "lmnto_ref.csv"),
]


def descriptor_of(atoms, settings: ChebyshevSettings, positions=None) -> torch.Tensor:
    periodic = bool(atoms.pbc.any())
    batch = atoms_to_batch(
        atoms.numbers,
        atoms.positions if positions is None else positions,
        settings.cutoff,
        atoms.cell.array if periodic else None,
        atoms.pbc if periodic else None,
        dtype=torch.float64,
    )
    vectors = (
        batch[keys.R][batch[keys.IDX_J]] - batch[keys.R][batch[keys.IDX_I]] + batch[keys.PAIR_SHIFT]
    )
    module = ChebyshevDescriptor(settings).double()
    return module(batch[keys.Z], vectors, batch[keys.IDX_I], batch[keys.IDX_J])


def test_type_spins_follow_aenet() -> None:
    assert type_spins(2) == [-1, 1]
    assert type_spins(3) == [-1, 0, 1]
    assert type_spins(4) == [-2, -1, 1, 2]


@pytest.mark.parametrize(("structure", "species", "nr", "rr", "na", "ra", "reference"), CASES)
def test_matches_fortran_reference(structure, species, nr, rr, na, ra, reference) -> None:
    atoms = ase.io.read(shared_file(f"aenet_descriptor_reference/{structure}"))
    settings = ChebyshevSettings(tuple(atomic_numbers[s] for s in species), nr, rr, na, ra)
    expected = np.loadtxt(shared_file(f"aenet_descriptor_reference/{reference}"), delimiter=",")
    computed = descriptor_of(atoms, settings).numpy()
    assert computed.shape == expected.shape == (len(atoms), settings.length)
    np.testing.assert_allclose(computed, expected, rtol=0, atol=1e-10)


def test_species_order_is_part_of_the_descriptor() -> None:
    atoms = ase.io.read(shared_file("aenet_descriptor_reference/aucu.xsf"))
    forward = descriptor_of(atoms, ChebyshevSettings((79, 29), 5, 3.5, 5, 3.5))
    swapped = descriptor_of(atoms, ChebyshevSettings((29, 79), 5, 3.5, 5, 3.5))
    assert torch.equal(forward[:, :12], swapped[:, :12])
    assert (forward[:, 12:] - swapped[:, 12:]).abs().max() > 0.1


def test_invariant_and_differentiable() -> None:
    atoms = ase.io.read(shared_file("aenet_descriptor_reference/water.xyz"))
    settings = ChebyshevSettings((8, 1), 10, 4.0, 3, 1.5)
    reference = descriptor_of(atoms, settings)
    rotation = Rotation.from_euler("zyx", [0.4, 1.2, -0.7]).as_matrix()
    moved = atoms.positions @ rotation.T + 3.0
    torch.testing.assert_close(descriptor_of(atoms, settings, moved), reference)
    order = [2, 0, 1]
    permuted = atoms[order]
    torch.testing.assert_close(descriptor_of(permuted, settings), reference[order])
    positions = torch.tensor(atoms.positions, requires_grad=True)
    batch = atoms_to_batch(atoms.numbers, atoms.positions, settings.cutoff, dtype=torch.float64)
    vectors = positions[batch[keys.IDX_J]] - positions[batch[keys.IDX_I]]
    value = (
        ChebyshevDescriptor(settings)
        .double()(batch[keys.Z], vectors, batch[keys.IDX_I], batch[keys.IDX_J])
        .sum()
    )
    value.backward()
    assert torch.isfinite(positions.grad).all() and positions.grad.abs().sum() > 0
