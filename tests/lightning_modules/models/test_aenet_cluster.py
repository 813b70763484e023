"""The compiled ænet model step gives PyTorch's energies, forces and MD trajectories."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.cluster import Icosahedron

from lightning_modules import keys
from lightning_modules.batching.batches import atoms_to_batch
from lightning_modules.data.cuau_water import build, target_recipe
from lightning_modules.data.references import EnergyReference
from lightning_modules.md import MDSpec
from lightning_modules.md.simulation import run_stability_check
from lightning_modules.models.aenet import AenetPotential, AenetSettings
from lightning_modules.models.schnet import SchNet, SchNetSettings
from lightning_modules.training.calculator import PesweepCalculator

REFERENCE = EnergyReference(
    element_energy={29: -1.5, 79: -2.5, 8: -4.0, 1: -0.7}, shift=0.3, scale=1.7
)


def random_aenet(species: tuple[str, ...], seed: int = 0, **settings: object) -> AenetPotential:
    """An untrained model with normalisation and references that are not the identity."""
    torch.manual_seed(seed)
    model = AenetPotential(AenetSettings(species=species, **settings)).double()  # type: ignore[arg-type]
    with torch.no_grad():
        model.feature_shift.normal_()
        model.feature_scale.uniform_(0.5, 1.5)
        model.feature_scale[:, 3] = 0.0  # a component of zero variance, as ænet's
    model.set_energy_reference(REFERENCE)
    return model


def torch_energy_forces(model: AenetPotential, atoms: Atoms) -> tuple[float, np.ndarray]:
    batch = atoms_to_batch(atoms.numbers, atoms.positions, model.cutoff, dtype=torch.float64)
    output = model(batch, compute_forces=True)
    return float(output[keys.ENERGY].detach()[0]), output[keys.FORCES].detach().numpy()


def water_cluster() -> Atoms:
    """Cu7Au6 with two waters, squeezed so that the repulsion and both cutoffs matter."""
    atoms = build(target_recipe(2), np.random.default_rng(3))
    atoms.positions *= 0.8
    return Atoms(atoms.numbers, atoms.positions)


@pytest.mark.parametrize(
    "activation", ["tanh", "sigmoid", "linear", "silu", "shifted_softplus", "smu"]
)
def test_compiled_model_equals_pytorch(activation: str) -> None:
    atoms = water_cluster()
    model = random_aenet(
        ("Cu", "Au", "O", "H"), activation=activation, core_repulsion=1.2, hidden_layers=2
    )
    energy, forces = torch_energy_forces(model, atoms)
    compiled = model.cluster_model(atoms.numbers)
    assert compiled is not None
    energies, compiled_forces = compiled.energies_forces(atoms.positions[None])
    assert energies[0] == pytest.approx(energy, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(compiled_forces[0], forces, rtol=0, atol=1e-10)
    assert np.abs(forces).max() > 1.0  # forces that could disagree


def test_core_repulsion_counts_in_the_compiled_model() -> None:
    atoms = water_cluster()
    plain = random_aenet(("Cu", "Au", "O", "H"))
    repelled = random_aenet(("Cu", "Au", "O", "H"), core_repulsion=1.2)
    plain_energy = plain.cluster_model(atoms.numbers).energies_forces(atoms.positions[None])[0]
    energies, forces = repelled.cluster_model(atoms.numbers).energies_forces(atoms.positions[None])
    assert energies[0] > plain_energy[0] + 1.0  # squeezed pairs inside the onset
    np.testing.assert_allclose(forces[0], torch_energy_forces(repelled, atoms)[1], atol=1e-10)


def test_one_species_no_hidden_layer_and_replicas() -> None:
    """One species (no spin-weighted half), a linear network, several structures at once."""
    atoms = Icosahedron("Cu", 2)
    model = random_aenet(("Cu",), hidden_layers=0, radial_cutoff=4.0, angular_cutoff=5.0)
    rng = np.random.default_rng(1)
    positions = atoms.positions[None] + rng.normal(0, 0.1, (3, len(atoms), 3))
    energies, forces = model.cluster_model(atoms.numbers).energies_forces(positions)
    for energy, force, replica in zip(energies, forces, positions, strict=True):
        expected_energy, expected_forces = torch_energy_forces(model, Atoms("Cu13", replica))
        assert energy == pytest.approx(expected_energy, rel=1e-12)
        np.testing.assert_allclose(force, expected_forces, atol=1e-10)


def test_calculator_takes_the_compiled_model_only_in_float64_on_the_cpu() -> None:
    atoms = water_cluster()
    model = random_aenet(("Cu", "Au", "O", "H"))
    assert PesweepCalculator(model, dtype="float64").cluster_model(atoms.numbers) is not None
    assert PesweepCalculator(model, dtype="float32").cluster_model(atoms.numbers) is None
    off = PesweepCalculator(model, dtype="float64", compiled=False)
    assert off.cluster_model(atoms.numbers) is None
    schnet = SchNet(SchNetSettings(cutoff=4.0))
    assert PesweepCalculator(schnet, dtype="float64").cluster_model(atoms.numbers) is None
    # ASE's interface, periodic or not, gives the same answer either way
    for pbc in (False, True):
        if pbc:
            atoms.cell, atoms.pbc = np.eye(3) * 30.0, True
        atoms.calc = PesweepCalculator(model, dtype="float64")
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = off
        assert energy == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
        np.testing.assert_allclose(forces, atoms.get_forces(), atol=1e-10)


def test_md_check_follows_the_pytorch_trajectory() -> None:
    atoms = Icosahedron("Cu", 2)
    atoms = Atoms(atoms.numbers, atoms.positions)
    model = random_aenet(("Cu",), core_repulsion=0.8)
    model.set_energy_reference(EnergyReference(element_energy={29: -1.0}, shift=0.0, scale=0.05))
    spec = MDSpec(time_ps=0.1, nve_ps=0.0, seed=3, frame_every=20, temperature=300)
    reports = [
        run_stability_check(atoms, PesweepCalculator(model, dtype="float64", compiled=c), spec)
        for c in (False, True)
    ]
    assert all(report.passed and report.steps == 200 for report in reports)
    trajectories = [np.array([f.positions for f in report.frames]) for report in reports]
    assert np.abs(trajectories[0][-1] - trajectories[0][0]).max() > 0.05  # the atoms moved
    np.testing.assert_allclose(trajectories[1], trajectories[0], rtol=0, atol=1e-9)


def test_coincident_atoms_give_non_finite_forces_not_an_exception() -> None:
    """As PyTorch's model: the MD check then fails the structure as not finite."""
    atoms = water_cluster()
    atoms.positions[1] = atoms.positions[0]
    model = random_aenet(("Cu", "Au", "O", "H"))
    energies, forces = model.cluster_model(atoms.numbers).energies_forces(atoms.positions[None])
    assert not np.isfinite(forces).all()
