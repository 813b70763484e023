"""The compiled descriptor against ænet's Fortran values, its Jacobian against autograd."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
import torch
from ase.data import atomic_numbers

from lightning_modules import keys
from lightning_modules.batching.batches import atoms_to_batch
from lightning_modules.batching.feature_cache import structure_features_of
from lightning_modules.models.descriptors import ChebyshevDescriptor, ChebyshevSettings
from tests.lightning_modules.models.test_descriptors import CASES
from tests.support.data import shared_file


def compiled(atoms, settings: ChebyshevSettings, with_jacobian: bool):
    spins = ChebyshevDescriptor(settings).spin_of_element.double().numpy()[atoms.numbers]
    periodic = bool(atoms.pbc.any())
    return structure_features_of(
        settings,
        spins,
        atoms.positions,
        atoms.cell.array if periodic else None,
        atoms.pbc if periodic else None,
        with_jacobian,
    )


def autograd_jacobian(atoms, settings: ChebyshevSettings) -> np.ndarray:
    """dG/dR of the PyTorch descriptor by autograd, in the cache's layout [n * length, n * 3]."""
    periodic = bool(atoms.pbc.any())
    batch = atoms_to_batch(
        atoms.numbers,
        atoms.positions,
        settings.cutoff,
        atoms.cell.array if periodic else None,
        atoms.pbc if periodic else None,
        dtype=torch.float64,
    )
    i, j, z = batch[keys.IDX_I], batch[keys.IDX_J], batch[keys.Z]
    shift = batch[keys.PAIR_SHIFT]
    descriptor = ChebyshevDescriptor(settings).double()
    jacobian = torch.func.jacrev(lambda r: descriptor(z, r[j] - r[i] + shift, i, j))(
        batch[keys.R]
    )  # [n, length, n, 3]
    n = len(atoms)
    return jacobian.reshape(n * settings.length, n * 3).numpy()


@pytest.mark.parametrize(("structure", "species", "nr", "rr", "na", "ra", "reference"), CASES)
def test_compiled_descriptor_matches_fortran_and_its_jacobian_autograd(
    structure, species, nr, rr, na, ra, reference
) -> None:
    """Water (cluster), AuCu and a five-species oxide (periodic, with images of the cell)."""
    atoms = ase.io.read(shared_file(f"aenet_descriptor_reference/{structure}"))
    settings = ChebyshevSettings(tuple(atomic_numbers[s] for s in species), nr, rr, na, ra)
    expected = np.loadtxt(shared_file(f"aenet_descriptor_reference/{reference}"), delimiter=",")
    values, empty = compiled(atoms, settings, with_jacobian=False)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-10)
    assert empty.size == 0
    atoms.rattle(0.05, seed=1)  # off the symmetric sites, where some gradients vanish
    values, jacobian = compiled(atoms, settings, with_jacobian=True)
    np.testing.assert_array_equal(values, compiled(atoms, settings, with_jacobian=False)[0])
    reference_jacobian = autograd_jacobian(atoms, settings)
    assert np.abs(reference_jacobian).max() > 0.1
    np.testing.assert_allclose(jacobian, reference_jacobian, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("species", [(22, 8), (22,)], ids=["two-species", "one-species"])
def test_compiled_jacobian_on_tio2_with_many_images(species) -> None:
    """A 6-atom TiO2 cell at a 6.5 A cutoff: an atom meets its own images many times."""
    from lightning_modules.data import load_data

    data = load_data(shared_file("tio2_aenet/dir_xsf.tar.gz"))
    k = int(np.argmin(data.n_atoms))
    atoms = data.atoms_of(k)
    structure = ase.Atoms(
        data.numbers[atoms], data.positions[atoms], cell=data.cell[k], pbc=data.pbc[k]
    )
    settings = ChebyshevSettings(species, 12, 6.5, 6, 4.0)
    _, jacobian = compiled(structure, settings, with_jacobian=True)
    np.testing.assert_allclose(
        jacobian, autograd_jacobian(structure, settings), rtol=1e-9, atol=1e-10
    )
