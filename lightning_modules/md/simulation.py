"""NVT molecular dynamics (then an NVE segment) with any ASE calculator, stopped at the first failure.

Bussi runs on :mod:`.replicas` (ASE's arithmetic, no per-step calculator
bookkeeping), Langevin on ASE's dynamics. Velocities are drawn from
Maxwell-Boltzmann at the target temperature (seeded, no net momentum or
rotation); the Bussi thermostat is the ænet study's. Every
``check_every`` steps the configuration goes through :mod:`.criteria`; the
first failure ends the run, and its time is the stable time. A run that
reaches the end passes, and its stable time is the whole run.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from lightning_modules.md import criteria
from lightning_modules.md.replicas import calculator_energies_forces, run_replicas
from lightning_modules.md.report import Progress, StabilityReport
from lightning_modules.md.spec import MDSpec
from lightning_modules.md.spot_check import SpotCheck

logger = logging.getLogger(__name__)


def _thermostat(atoms: Atoms, spec: MDSpec, rng: np.random.Generator) -> MolecularDynamics:
    step = spec.timestep * units.fs
    if spec.thermostat == "bussi":
        return Bussi(
            atoms,
            step,
            temperature_K=spec.temperature,
            taut=spec.thermostat_time_fs * units.fs,
            rng=rng,
        )
    return Langevin(
        atoms,
        step,
        temperature_K=spec.temperature,
        friction=1.0 / (spec.thermostat_time_fs * units.fs),
        fixcm=False,  # ASE's fixcm=True is deprecated: it does not sample NVT exactly
        rng=rng,
    )


def _snapshot(atoms: Atoms, time_ps: float) -> Atoms:
    frame = atoms.copy()
    frame.calc = SinglePointCalculator(
        frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces()
    )
    frame.info["time_ps"] = round(time_ps, 6)
    frame.info["temperature_K"] = float(atoms.get_temperature())
    return frame


def run_stability_check(
    structure: Atoms,
    calculator: Calculator,
    spec: MDSpec,
    on_progress: Progress | None = None,
) -> StabilityReport:
    """Run ``spec``'s NVT then NVE MD of ``structure`` with ``calculator``; stop at the first failure.

    The Bussi thermostat runs on :func:`~lightning_modules.md.replicas.run_replicas`
    (ASE's arithmetic without its per-step bookkeeping; the calculator's
    ``energies_forces`` when it has one); Langevin on ASE's own dynamics.
    With ``spec.spot_check``, frames of the trajectory are labelled by the
    reference calculator as the run reaches them (:mod:`.spot_check`).
    """
    if spec.thermostat == "bussi":
        evaluate = getattr(calculator, "energies_forces", None) or calculator_energies_forces(
            calculator
        )
        return run_replicas(structure, evaluate, spec, [spec.seed], on_progress)[0]
    return run_with_ase_dynamics(structure, calculator, spec, on_progress)


def run_with_ase_dynamics(
    structure: Atoms,
    calculator: Calculator,
    spec: MDSpec,
    on_progress: Progress | None = None,
) -> StabilityReport:
    """The check on ASE's dynamics (Bussi or Langevin), the calculator asked per property."""
    atoms = structure.copy()
    atoms.pbc = False
    atoms.calc = calculator
    numbers = atoms.numbers.copy()
    bonds = criteria.molecular_bonds(numbers, atoms.positions)
    rng = np.random.default_rng(spec.seed)
    thermalize_momenta(atoms, temperature_K=spec.temperature, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    nvt_steps, nve_steps = spec.steps
    temperatures: list[float] = []
    frames: list[Atoms] = []
    drift: float | None = None
    state = {"step": 0, "nve_start": 0.0, "in_nve": False}

    def failure() -> str | None:
        try:
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
        except Exception as error:  # a model that cannot evaluate the structure is not stable
            return f"the calculator failed: {type(error).__name__}: {str(error).splitlines()[0]}"
        positions = atoms.positions
        reason = criteria.not_finite(energy, forces, positions)
        if reason:
            return reason
        temperature = float(atoms.get_temperature())
        temperatures.append(temperature)
        drifted = None
        if state["in_nve"]:
            nonlocal drift
            total = energy + atoms.get_kinetic_energy()
            drift = max(drift or 0.0, abs(total - state["nve_start"]) / len(atoms))
            drifted = criteria.energy_drift(total, state["nve_start"], len(atoms), spec.max_drift)
        return (
            criteria.configuration_failure(numbers, positions, bonds, temperature, spec) or drifted
        )

    def time_ps() -> float:
        return state["step"] * spec.timestep / 1000.0

    start = time.perf_counter()
    last_report = start
    spot = SpotCheck(spec)
    reason = failure()
    if reason is None:
        frames.append(_snapshot(atoms, 0.0))
        reason = spot(0, frames[-1])
    for dynamics, n_steps in ((_thermostat(atoms, spec, rng), nvt_steps), (None, nve_steps)):
        if reason is not None or n_steps == 0:
            continue
        if dynamics is None:
            dynamics = VelocityVerlet(atoms, spec.timestep * units.fs)
            state["in_nve"] = True
            state["nve_start"] = atoms.get_potential_energy() + atoms.get_kinetic_energy()
            drift = 0.0
        done = 0
        while done < n_steps:
            chunk = min(spec.check_every, n_steps - done)
            try:
                dynamics.run(chunk)
            except Exception as error:
                reason = (
                    f"the dynamics failed: {type(error).__name__}: {str(error).splitlines()[0]}"
                )
            done += chunk
            state["step"] += chunk
            reason = reason or failure()
            if reason is not None:
                break
            if state["step"] % spec.frame_every == 0:
                frames.append(_snapshot(atoms, time_ps()))
                reason = spot(int(state["step"]), frames[-1])
                if reason is not None:
                    break
            now = time.perf_counter()
            if on_progress is not None and now - last_report > 0.5:
                on_progress(time_ps(), state["step"] / (now - start))
                last_report = now
    seconds = time.perf_counter() - start
    passed = reason is None
    failure_ps = None if passed else time_ps()
    if on_progress is not None:
        on_progress(time_ps(), state["step"] / seconds if seconds > 0 else 0.0)
    report = StabilityReport(
        passed=passed,
        reason=reason or "",
        failure_ps=failure_ps,
        stable_ps=spec.total_ps if passed else time_ps(),
        total_ps=spec.total_ps,
        steps=int(state["step"]),
        seconds=seconds,
        max_temperature=max(temperatures) if temperatures else float("nan"),
        mean_temperature=float(np.mean(temperatures)) if temperatures else float("nan"),
        nve_drift_eV_per_atom=drift,
        frames=frames,
        spot_checks=spot.checks,
    )
    logger.info("md check: %s", report.summary())
    return report
