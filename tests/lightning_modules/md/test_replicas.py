"""The replica engine follows ASE's Bussi dynamics, and a failing replica stops only itself."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.optimize import BFGS

from lightning_modules.md import MDSpec
from lightning_modules.md.replicas import calculator_energies_forces, run_replicas
from lightning_modules.md.simulation import run_with_ase_dynamics


@pytest.fixture(scope="module")
def cu13() -> Atoms:
    atoms = Icosahedron("Cu", 2)
    atoms.calc = EMT()
    BFGS(atoms, logfile=None).run(fmax=0.01)
    return Atoms(atoms.numbers, atoms.positions)


def positions(report) -> np.ndarray:
    return np.array([frame.positions for frame in report.frames])


def test_each_replica_follows_ase_bussi_for_its_seed(cu13) -> None:
    spec = MDSpec(time_ps=0.2, nve_ps=0.05, timestep=1.0, frame_every=10, temperature=500)
    reports = run_replicas(cu13, calculator_energies_forces(EMT()), spec, [4, 7])
    for seed, report in zip((4, 7), reports, strict=True):
        reference = run_with_ase_dynamics(cu13, EMT(), MDSpec(**{**spec.to_dict(), "seed": seed}))
        assert report.passed and reference.passed and report.steps == reference.steps == 250
        assert len(report.frames) == len(reference.frames) == 26
        np.testing.assert_allclose(positions(report), positions(reference), rtol=0, atol=1e-9)
        assert report.max_temperature == pytest.approx(reference.max_temperature, rel=1e-9)
        assert report.nve_drift_eV_per_atom == pytest.approx(
            reference.nve_drift_eV_per_atom, rel=1e-6, abs=1e-12
        )
    assert np.abs(positions(reports[0]) - positions(reports[1])).max() > 0.01  # two seeds


def test_a_replica_that_fails_stops_alone(cu13) -> None:
    emt = calculator_energies_forces(EMT())
    calls = []

    def broken_after_ten_steps(numbers, stacked):
        calls.append(len(stacked))
        energies, forces = emt(numbers, stacked)
        if len(calls) > 10 and len(stacked) == 3:  # the call of step 10 (call 1: the start)
            forces[1] = np.nan  # the second replica's model breaks down
        return energies, forces

    spec = MDSpec(time_ps=0.03, nve_ps=0.0, timestep=1.0, frame_every=10)
    first, second, third = run_replicas(cu13, broken_after_ten_steps, spec, [0, 1, 2])
    assert first.passed and third.passed and first.steps == third.steps == 30
    assert not second.passed and second.steps == 10
    assert second.reason.startswith("NaN or infinity")
    assert calls == [3] * 11 + [2] * 20  # from step 11 on, the other two alone
