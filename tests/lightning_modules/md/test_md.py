"""MD stability criteria, pair distributions and the NVT run with real ASE calculators."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.optimize import BFGS

from lightning_modules.md import (
    MDSpec,
    MDSpecError,
    criteria,
    first_peak,
    pair_distributions,
    rdf_distance,
)
from lightning_modules.md.simulation import run_stability_check
from lightning_modules.md.spec import load_md_spec


def water() -> Atoms:
    angle = np.deg2rad(104.5 / 2)
    return Atoms(
        "OH2",
        positions=[
            [0, 0, 0],
            [0.96 * np.sin(angle), 0.96 * np.cos(angle), 0],
            [-0.96 * np.sin(angle), 0.96 * np.cos(angle), 0],
        ],
    )


@pytest.fixture(scope="module")
def relaxed_cu13() -> Atoms:
    atoms = Icosahedron("Cu", 2)
    atoms.calc = EMT()
    BFGS(atoms, logfile=None).run(fmax=0.01)
    return atoms


def test_au_o_at_the_scratch_models_distance_is_a_close_contact() -> None:
    numbers = np.array([79, 8])
    failing = criteria.close_contact(numbers, np.array([[0, 0, 0], [1.07, 0, 0]]), 0.75)
    assert failing is not None and "Au0-O1 at 1.07 A" in failing and "limit 1.52 A" in failing
    assert criteria.close_contact(numbers, np.array([[0, 0, 0], [2.2, 0, 0]]), 0.75) is None


def test_water_bonds_found_and_a_stretched_one_fails() -> None:
    molecule = water()
    bonds = criteria.molecular_bonds(molecule.numbers, molecule.positions)
    assert bonds.tolist() == [[0, 1], [0, 2]]
    assert criteria.broken_bond(molecule.numbers, molecule.positions, bonds, 1.6) is None
    molecule.positions[2] *= 1.8  # O-H at 1.73 A
    reason = criteria.broken_bond(molecule.numbers, molecule.positions, bonds, 1.6)
    assert reason is not None and reason.startswith("bond O0-H2 broken at 1.73 A")


def test_an_atom_far_from_the_rest_has_left_the_cluster(relaxed_cu13: Atoms) -> None:
    atoms = relaxed_cu13.copy()
    assert criteria.escaped_atom(atoms.numbers, atoms.positions, 4.0) is None
    atoms.positions[5] += 20 * (atoms.positions[5] - atoms.positions.mean(0))
    assert "atom Cu5 left the cluster" in criteria.escaped_atom(atoms.numbers, atoms.positions, 4.0)


def test_pair_distributions_match_a_hand_count() -> None:
    molecule = water()
    result = pair_distributions(molecule.numbers, [molecule.positions], r_max=3.0, bins=30)
    r, oh = result["H-O"]
    width = r[1] - r[0]
    # both O-H distances (0.96 A) fall in the bin [0.9, 1.0): density 2 / (1 frame * 2 pairs * dr)
    assert oh[9] == pytest.approx(1 / width) and oh.sum() * width == pytest.approx(1.0)
    hh_distance = np.linalg.norm(molecule.positions[1] - molecule.positions[2])  # 1.518 A
    _, hh = result["H-H"]
    assert np.flatnonzero(hh).tolist() == [int(hh_distance / width)]
    assert set(result) == {"H-O", "H-H"}
    assert rdf_distance(result, result) == {"H-O": 0.0, "H-H": 0.0, "mean": 0.0}
    moved = water()
    moved.positions *= 2
    other = pair_distributions(moved.numbers, [moved.positions], r_max=3.0, bins=30)
    assert rdf_distance(result, other)["H-O"] == pytest.approx(2.0)


def test_first_peak_is_the_nearest_shell_not_the_highest_or_a_noisy_bin() -> None:
    r = np.linspace(0.025, 5.975, 120)
    shells = np.exp(-((r - 2.2) ** 2) / 0.02) + 3 * np.exp(-((r - 4.0) ** 2) / 0.05)
    assert first_peak(r, shells) == pytest.approx(2.2, abs=0.05)  # not the taller 4.0 A shell
    collapsed = shells + 0.6 * np.exp(-((r - 1.07) ** 2) / 0.005)
    assert first_peak(r, collapsed) == pytest.approx(1.07, abs=0.05)  # the study's failure
    noise = np.random.default_rng(0).uniform(0.85, 1.15, r.size)  # a histogram's scatter
    assert first_peak(r, shells * noise) == pytest.approx(2.2, abs=0.05)
    assert np.isnan(first_peak(r, np.zeros_like(r)))


def test_emt_passes_a_short_run_on_a_cu_cluster(relaxed_cu13: Atoms) -> None:
    spec = MDSpec(time_ps=0.1, nve_ps=0.05, timestep=1.0, frame_every=10, seed=3)
    seen = []
    report = run_stability_check(relaxed_cu13, EMT(), spec, lambda ps, rate: seen.append(ps))
    assert report.passed, report.reason
    assert report.stable_ps == pytest.approx(0.15) and report.steps == 150
    assert len(report.frames) == 16 and report.frames[-1].info["time_ps"] == pytest.approx(0.15)
    assert report.nve_drift_eV_per_atom is not None and report.nve_drift_eV_per_atom < 1e-3
    assert 100 < report.mean_temperature < 600 and seen[-1] == pytest.approx(0.15)
    assert report.summary().startswith("PASS: stable for the whole 0.15 ps")


class CollapsingEMT(Calculator):
    """EMT plus a deliberately wrong term: atoms 0 and 1 attract each other without limit."""

    implemented_properties = ["energy", "forces"]

    def __init__(self) -> None:
        super().__init__()
        self.emt = EMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy = self.emt.get_potential_energy(self.atoms)
        forces = self.emt.get_forces(self.atoms).copy()
        delta = self.atoms.positions[0] - self.atoms.positions[1]
        forces[0] -= 20.0 * delta  # E += 10 eV/A^2 * r01^2
        forces[1] += 20.0 * delta
        self.results = {"energy": energy + 10.0 * delta @ delta, "forces": forces}


def test_a_collapsing_calculator_fails_with_the_close_contact_and_its_time(relaxed_cu13) -> None:
    # the collapse also heats the 13 atoms past 3 x 300 K; a loose temperature limit here
    # lets the contact itself be the first failure
    spec = MDSpec(time_ps=1.0, nve_ps=0.0, timestep=1.0, seed=3, temperature_factor=100)
    report = run_stability_check(relaxed_cu13, CollapsingEMT(), spec)
    assert not report.passed
    assert report.reason.startswith("close contact Cu0-Cu1 at"), report.reason
    assert 0 < report.failure_ps < 0.2 and report.stable_ps == report.failure_ps
    assert report.summary().startswith(f"FAIL at {report.failure_ps:.4g} ps: close contact")
    # the same structure with EMT alone over the same time passes: the wrong term is the cause
    assert run_stability_check(relaxed_cu13, EMT(), spec.replace(time_ps=0.2)).passed
    # with the default limit the heat of the collapse is what fails first
    hot = run_stability_check(relaxed_cu13, CollapsingEMT(), spec.replace(temperature_factor=3))
    assert hot.reason.startswith("temperature") and hot.failure_ps <= report.failure_ps


def test_spec_errors_name_the_field(tmp_path) -> None:
    with pytest.raises(MDSpecError, match="temperature must be a positive number"):
        MDSpec(temperature=-3)
    with pytest.raises(MDSpecError, match="thermostat 'nose' is unknown"):
        MDSpec(thermostat="nose")
    path = tmp_path / "md.yaml"
    path.write_text("structure: start.xyz\ntemperatur: 300\n")
    with pytest.raises(MDSpecError, match="unknown field.*temperatur"):
        load_md_spec(path)
    path.write_text("structure: start.xyz\ntime_ps: 2\n")
    spec = load_md_spec(path)
    assert spec.structure == str(tmp_path / "start.xyz") and spec.time_ps == 2
    with pytest.raises(MDSpecError, match="no such file"):
        load_md_spec(tmp_path / "absent.yaml")


class ConfinedEMT(Calculator):
    """EMT plus a harmonic pull of every atom towards the centre: stable, and wrong."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, stiffness: float) -> None:
        super().__init__()
        self.emt, self.stiffness = EMT(), stiffness

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        offsets = self.atoms.positions - self.atoms.positions.mean(axis=0)
        energy = (
            self.emt.get_potential_energy(self.atoms) + 0.5 * self.stiffness * (offsets**2).sum()
        )
        forces = self.emt.get_forces(self.atoms) - self.stiffness * offsets
        self.results = {"energy": energy, "forces": forces}


def test_the_spot_check_fails_a_stable_trajectory_whose_forces_the_reference_disputes(
    relaxed_cu13: Atoms,
) -> None:
    spec = MDSpec(time_ps=0.1, nve_ps=0.0, timestep=1.0, frame_every=10, seed=3)
    confined = relaxed_cu13.copy()  # the confined model's own minimum: a basin EMT does not have
    confined.calc = ConfinedEMT(1.0)
    BFGS(confined, logfile=None).run(fmax=0.01)
    # without a spot check the confined cluster is stable: the dynamics' criteria cannot tell
    assert run_stability_check(confined, ConfinedEMT(1.0), spec).passed
    checked = spec.replace(spot_check="emt", spot_check_frames=4)
    report = run_stability_check(confined, ConfinedEMT(1.0), checked)
    assert not report.passed and report.reason.startswith("emt disagrees with the model")
    assert report.failure_ps == 0.0 and report.stable_ps == 0.0  # wrong from the first frame
    assert report.steps == 0 and len(report.frames) == 1  # and stopped there, not run to the end
    on_ase = run_stability_check(confined, ConfinedEMT(1.0), checked.replace(thermostat="langevin"))
    assert on_ase.reason == report.reason and on_ase.steps == 0
    assert len(report.spot_checks) == 1 and report.spot_checks[0][1] > 1.0
    # a pull too weak to matter passes, every spread frame checked, first and last included
    weak = run_stability_check(relaxed_cu13, ConfinedEMT(0.01), checked)
    assert weak.passed, weak.reason
    assert [t for t, _ in weak.spot_checks] == pytest.approx([0.0, 0.03, 0.07, 0.1])
    assert max(rmse for _, rmse in weak.spot_checks) < 0.05
    assert "the reference agrees on 4 frames" in weak.summary()
    assert weak.to_dict()["spot_checks"][0]["time_ps"] == 0.0


def test_the_spot_check_moves_a_failure_to_the_first_disputed_frame(relaxed_cu13: Atoms) -> None:
    spec = MDSpec(time_ps=1.0, nve_ps=0.0, timestep=1.0, seed=3, temperature_factor=100)
    plain = run_stability_check(relaxed_cu13, CollapsingEMT(), spec)
    checked = run_stability_check(relaxed_cu13, CollapsingEMT(), spec.replace(spot_check="emt"))
    assert plain.reason.startswith("close contact") and plain.failure_ps > 0
    # the wrong pull is there from the first step: EMT disputes the very first frame
    assert checked.reason.startswith("emt disagrees") and checked.failure_ps == 0.0
    # a limit the pull stays under keeps the dynamics' own failure
    loose = run_stability_check(
        relaxed_cu13, CollapsingEMT(), spec.replace(spot_check="emt", spot_check_max_force_rmse=1e3)
    )
    assert loose.reason == plain.reason and loose.spot_checks


def test_spot_check_settings_are_checked() -> None:
    with pytest.raises(MDSpecError, match="spot_check 'dft' is unknown; use emt or gfn1-xtb"):
        MDSpec(spot_check="dft")
    with pytest.raises(MDSpecError, match="spot_check_frames must be a whole number"):
        MDSpec(spot_check="emt", spot_check_frames=0)
    with pytest.raises(MDSpecError, match="spot_check_max_force_rmse must be a positive"):
        MDSpec(spot_check_max_force_rmse=float("nan"))
