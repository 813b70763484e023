"""The ASE calculator agrees with the model and drives stable NVE dynamics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from lightning_modules import keys
from lightning_modules.data.emt_data import emt_clusters
from lightning_modules.training.calculator import PesweepCalculator
from lightning_modules.training.config import make_config
from lightning_modules.training.run import train
from lightning_modules.training.task import load_task


@pytest.fixture(scope="module")
def checkpoint(emt_file, tmp_path_factory) -> str:
    config = make_config(
        dict(
            data=[str(emt_file)],
            alpha=0.9,
            lr=3e-3,
            batch_size=16,
            max_epochs=15,
            seed=2,
            model_config=dict(n_atom_basis=24, n_interactions=2, n_rbf=12, cutoff=5.0),
            progress_bar=False,
            output_dir=str(tmp_path_factory.mktemp("calc")),
        )
    )
    return train(config).checkpoint_path


def test_calculator_equals_the_model(checkpoint) -> None:
    atoms = emt_clusters(n_structures=1, seed=21)[0]
    atoms.calc = PesweepCalculator.from_checkpoint(checkpoint, dtype="float64")
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    model = load_task(checkpoint).model.double()
    from lightning_modules.batching.batches import atoms_to_batch

    batch = atoms_to_batch(atoms.numbers, atoms.positions, model.cutoff, dtype=torch.float64)
    expected = model(batch, compute_forces=True)
    assert energy == pytest.approx(expected[keys.ENERGY].item(), abs=1e-9)
    np.testing.assert_allclose(forces, expected[keys.FORCES].detach().numpy(), atol=1e-9)
    step = 1e-5
    shifted = atoms.copy()
    shifted.calc = atoms.calc
    shifted.positions[4, 2] += step
    numeric = -(shifted.get_potential_energy() - energy) / step
    assert forces[4, 2] == pytest.approx(numeric, abs=1e-3)


def test_optimiser_and_nve_energy_conservation(checkpoint) -> None:
    atoms = emt_clusters(n_structures=1, seed=22, rattle=0.05)[0]
    atoms.calc = PesweepCalculator.from_checkpoint(checkpoint, dtype="float64")
    start = atoms.get_potential_energy()
    BFGS(atoms, logfile=None).run(fmax=0.05, steps=200)
    assert atoms.get_potential_energy() < start
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    Stationary(atoms)
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    totals = []
    for _ in range(40):
        dynamics.run(5)
        totals.append(atoms.get_total_energy())
    drift = np.max(np.abs(np.array(totals) - totals[0])) / len(atoms)
    assert atoms.get_kinetic_energy() > 0
    assert drift < 2e-3, f"total energy drifts {drift * 1000:.2f} meV/atom over 200 fs"


def test_unknown_element_is_a_clear_error(checkpoint) -> None:
    from ase import Atoms

    atoms = Atoms("Cu2Xe", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]])
    atoms.calc = PesweepCalculator.from_checkpoint(checkpoint)
    assert atoms.calc.trained_elements == {29, 79}
    with pytest.raises(ValueError, match=r"not trained for atomic numbers \[54\]"):
        atoms.get_potential_energy()


def test_calculator_recomputes_exactly_when_ase_would(checkpoint) -> None:
    from ase.calculators.calculator import compare_atoms

    atoms = emt_clusters(n_structures=1, seed=23)[0]
    calculator = PesweepCalculator.from_checkpoint(checkpoint, dtype="float64")
    atoms.calc = calculator
    calls = []
    original = calculator.calculate
    calculator.calculate = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_potential_energy()
    assert len(calls) == 1  # the same atoms: no new calculation
    same = atoms.copy()
    assert calculator.check_state(same) == compare_atoms(calculator.atoms, same) == []
    moved = atoms.copy()
    moved.positions[0, 0] += 1e-12
    assert calculator.check_state(moved) == compare_atoms(calculator.atoms, moved) == ["positions"]
    other = atoms.copy()
    other.numbers[0] = 79
    assert calculator.check_state(other) == compare_atoms(calculator.atoms, other) == ["numbers"]
    atoms.positions[1, 2] += 1e-12
    atoms.get_forces()
    assert len(calls) == 2


def test_replicas_in_one_call_equal_one_structure_at_a_time(checkpoint) -> None:
    atoms = emt_clusters(n_structures=1, seed=24)[0]
    calculator = PesweepCalculator.from_checkpoint(checkpoint, dtype="float64")
    stacked = np.stack([atoms.positions + shift for shift in (0.0, 0.05, -0.08)])
    stacked[1, 3] += 0.2  # the replicas differ in shape, not only in place
    energies, forces = calculator.energies_forces(atoms.numbers, stacked)
    assert energies.shape == (3,) and forces.shape == (3, len(atoms), 3)
    for k, replica in enumerate(stacked):
        alone = atoms.copy()
        alone.positions = replica
        alone.calc = calculator
        assert energies[k] == pytest.approx(alone.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(forces[k], alone.get_forces(), atol=1e-9)
    assert energies[0] == pytest.approx(energies[2], abs=1e-9)  # a rigid shift changes nothing
    assert abs(energies[1] - energies[0]) > 1e-4
