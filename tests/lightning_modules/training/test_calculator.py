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
