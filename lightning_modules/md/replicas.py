"""Several velocity seeds of one MD check at once: one batched model call per step.

The same check as :func:`~lightning_modules.md.simulation.run_stability_check`
with the Bussi thermostat (then NVE), integrated here instead of by ASE: the
velocity-Verlet step and Bussi's velocity rescaling are ASE's arithmetic
(``ase.md.verlet``, ``ase.md.bussi``, the same random draws from a generator
seeded as there), so each replica follows the trajectory the ASE check gives
for its seed, within floating-point rounding. The speed comes from the
model: ``energies_forces`` evaluates all replicas' positions in one call
(:meth:`PesweepCalculator.energies_forces`), and no ASE calculator
bookkeeping runs per step. A replica that fails stops; the others go on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta

from lightning_modules.md import criteria
from lightning_modules.md.report import Progress, StabilityReport
from lightning_modules.md.spec import MDSpec
from lightning_modules.md.spot_check import SpotCheck

logger = logging.getLogger(__name__)

# (atomic numbers (n,), positions (r, n, 3)) -> (energies (r,) eV, forces (r, n, 3) eV/A)
EnergiesForces = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def calculator_energies_forces(calculator: object) -> EnergiesForces:
    """``energies_forces`` of any ASE calculator: one structure after the other."""

    def evaluate(numbers: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        energies, forces = [], []
        for replica in positions:
            atoms = Atoms(numbers=numbers, positions=replica)
            atoms.calc = calculator
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
        return np.array(energies), np.array(forces)

    return evaluate


@dataclass
class Replica:
    """One velocity seed's state: positions, momenta, forces, and what the check saw."""

    seed: int
    rng: np.random.Generator
    positions: np.ndarray
    momenta: np.ndarray
    energy: float = 0.0
    forces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    reason: str | None = None
    step: int = 0
    seconds: float = 0.0
    temperatures: list[float] = field(default_factory=list)
    frames: list[Atoms] = field(default_factory=list)
    spot: SpotCheck | None = None
    drift: float | None = None
    nve_start: float = 0.0


def kinetic_energy(momenta: np.ndarray, masses: np.ndarray) -> float:
    """ASE's ``Atoms.get_kinetic_energy`` (eV)."""
    return 0.5 * float(np.vdot(momenta, momenta / masses[:, None]))


def bussi_alpha(
    kinetic: float, target: float, n_dof: int, decay: float, rng: np.random.Generator
) -> float:
    """Bussi's velocity scaling factor, Eq. (A7), with ASE's two draws in ASE's order."""
    scaling = (1 - decay) * target / kinetic / n_dof
    normal = rng.standard_normal()
    sum_of_squares = 2.0 * rng.standard_gamma(0.5 * (n_dof - 1))
    return math.sqrt(
        decay + scaling * (sum_of_squares + normal**2) + 2 * normal * math.sqrt(decay * scaling)
    )


def run_replicas(
    structure: Atoms,
    energies_forces: EnergiesForces,
    spec: MDSpec,
    seeds: Sequence[int],
    on_progress: Progress | None = None,
) -> list[StabilityReport]:
    """``spec``'s check (Bussi NVT, then NVE) of ``structure`` once per seed; one report each."""
    if spec.thermostat != "bussi":
        raise ValueError(f"replicas run the Bussi thermostat, not {spec.thermostat!r}")
    numbers = structure.numbers.copy()
    masses = structure.get_masses()
    bonds = criteria.molecular_bonds(numbers, structure.positions)
    n_dof = 3 * len(structure)
    dt = spec.timestep * units.fs
    target = 0.5 * (spec.temperature * units.kB) * n_dof
    decay = math.exp(-dt / (spec.thermostat_time_fs * units.fs))
    replicas = []
    for seed in seeds:
        atoms = structure.copy()
        rng = np.random.default_rng(seed)
        thermalize_momenta(atoms, temperature_K=spec.temperature, rng=rng)
        Stationary(atoms)
        ZeroRotation(atoms)
        replicas.append(
            Replica(seed, rng, atoms.positions.copy(), atoms.get_momenta(), spot=SpotCheck(spec))
        )
    if any(kinetic_energy(r.momenta, masses) < 1e-12 for r in replicas):
        raise ValueError("Initial kinetic energy is zero: the temperature must be positive")
    start = time.perf_counter()
    last_report = start

    def temperature(replica: Replica) -> float:
        return 2 * kinetic_energy(replica.momenta, masses) / (n_dof * units.kB)

    def check(replica: Replica, in_nve: bool) -> str | None:
        reason = criteria.not_finite(replica.energy, replica.forces, replica.positions)
        if reason:
            return reason
        current = temperature(replica)
        replica.temperatures.append(current)
        drifted = None
        if in_nve:
            total = replica.energy + kinetic_energy(replica.momenta, masses)
            replica.drift = max(replica.drift or 0.0, abs(total - replica.nve_start) / len(numbers))
            drifted = criteria.energy_drift(total, replica.nve_start, len(numbers), spec.max_drift)
        return (
            criteria.configuration_failure(numbers, replica.positions, bonds, current, spec)
            or drifted
        )

    def snapshot(replica: Replica) -> Atoms:
        frame = Atoms(numbers=numbers, positions=replica.positions.copy(), momenta=replica.momenta)
        frame.calc = SinglePointCalculator(frame, energy=replica.energy, forces=replica.forces)
        frame.info["time_ps"] = round(replica.step * spec.timestep / 1000.0, 6)
        frame.info["temperature_K"] = temperature(replica)
        return frame

    def keep(replica: Replica) -> None:
        """Keep the replica's frame; the spot check (if any) may fail it there."""
        replica.frames.append(snapshot(replica))
        if replica.spot is not None:
            replica.reason = replica.spot(replica.step, replica.frames[-1])

    def evaluate(group: list[Replica], failure: str) -> None:
        """Energies and forces of ``group`` at its positions; a replica that cannot be
        evaluated fails with ``failure`` (tried alone, so one bad replica stops only itself)."""
        try:
            energies, forces = energies_forces(numbers, np.stack([r.positions for r in group]))
        except Exception:
            if len(group) == 1:
                error = _last_error(energies_forces, numbers, group[0].positions)
                group[0].reason = f"{failure}: {error}"
                return
            for replica in group:
                evaluate([replica], failure)
            return
        for replica, energy, force in zip(group, energies, forces, strict=True):
            replica.energy, replica.forces = float(energy), np.asarray(force, dtype=float)

    evaluate(replicas, "the calculator failed")
    for replica in replicas:
        replica.reason = replica.reason or check(replica, False)
        if replica.reason is None:
            keep(replica)
    nvt_steps, nve_steps = spec.steps
    for in_nve, n_steps in ((False, nvt_steps), (True, nve_steps)):
        active = [r for r in replicas if r.reason is None]
        if not active or n_steps == 0:
            continue
        if in_nve:
            for replica in active:
                replica.nve_start = replica.energy + kinetic_energy(replica.momenta, masses)
                replica.drift = 0.0
        for done in range(1, n_steps + 1):
            active = [r for r in active if r.reason is None]
            if not active:
                break
            for replica in active:
                if not in_nve:
                    kinetic = kinetic_energy(replica.momenta, masses)
                    replica.momenta = (
                        bussi_alpha(kinetic, target, n_dof, decay, replica.rng) * replica.momenta
                    )
                replica.momenta = replica.momenta + 0.5 * dt * replica.forces
                replica.positions = replica.positions + dt * replica.momenta / masses[:, None]
            evaluate(active, "the dynamics failed")
            for replica in active:
                replica.step += 1
                if replica.reason is None:
                    replica.momenta = replica.momenta + 0.5 * dt * replica.forces
                if done % spec.check_every and done != n_steps:
                    continue
                replica.reason = replica.reason or check(replica, in_nve)
                if replica.reason is None and replica.step % spec.frame_every == 0:
                    keep(replica)
                if replica.reason is not None:
                    replica.seconds = time.perf_counter() - start
            now = time.perf_counter()
            if on_progress is not None and now - last_report > 0.5:
                steps = min(r.step for r in active)
                on_progress(steps * spec.timestep / 1000.0, steps / (now - start))
                last_report = now
    end = time.perf_counter()
    if on_progress is not None:
        steps = max(r.step for r in replicas)
        on_progress(steps * spec.timestep / 1000.0, steps / (end - start) if end > start else 0.0)
    reports = [_report(replica, spec, replica.seconds or end - start) for replica in replicas]
    for replica, report in zip(replicas, reports, strict=True):
        logger.info("md check, velocity seed %d: %s", replica.seed, report.summary())
    return reports


def _last_error(energies_forces: EnergiesForces, numbers: np.ndarray, positions: np.ndarray) -> str:
    try:
        energies_forces(numbers, positions[None])
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return "unknown error"


def _report(replica: Replica, spec: MDSpec, seconds: float) -> StabilityReport:
    passed = replica.reason is None
    time_ps = replica.step * spec.timestep / 1000.0
    return StabilityReport(
        passed=passed,
        reason=replica.reason or "",
        failure_ps=None if passed else time_ps,
        stable_ps=spec.total_ps if passed else time_ps,
        total_ps=spec.total_ps,
        steps=replica.step,
        seconds=seconds,
        max_temperature=max(replica.temperatures) if replica.temperatures else float("nan"),
        mean_temperature=float(np.mean(replica.temperatures))
        if replica.temperatures
        else float("nan"),
        nve_drift_eV_per_atom=replica.drift,
        frames=replica.frames,
        spot_checks=replica.spot.checks if replica.spot is not None else [],
    )
