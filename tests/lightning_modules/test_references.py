"""Element reference energies fitted by least squares on composition."""

from __future__ import annotations

import dataclasses

import numpy as np

from lightning_modules.data.references import composition_matrix, fit_energy_reference


def test_linear_energies_recover_element_references(emt_data) -> None:
    counts = composition_matrix(emt_data, [29, 79])
    assert np.linalg.matrix_rank(counts) == 2
    linear = dataclasses.replace(emt_data, energy=counts @ np.array([-3.5, -1.25]))
    reference = fit_energy_reference(linear)
    assert abs(reference.element_energy[29] + 3.5) < 1e-9
    assert abs(reference.element_energy[79] + 1.25) < 1e-9
    assert reference.scale == 1.0  # zero residual variance falls back to 1


def test_residual_is_centred_and_scaled(seb20_small) -> None:
    reference = fit_energy_reference(seb20_small)
    residual = seb20_small.energy - reference.reference_energy(seb20_small)
    assert abs(residual.mean()) < 1e-6 * abs(seb20_small.energy.mean())
    per_atom = residual / seb20_small.n_atoms
    assert np.isclose(reference.scale, per_atom.std())
    assert 0.1 < reference.scale < 50.0  # eV/atom, far below the -3700 eV/atom totals
