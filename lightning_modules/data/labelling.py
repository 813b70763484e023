"""New labels (energy in eV, forces in eV/Angstrom) from a real calculator.

``emt`` is ASE's effective medium theory (metals and a few light elements);
``gfn1-xtb`` is GFN1-xTB through ``tblite`` (the optional extra
``pesweep[xtb]``), at 300 K electronic temperature as the CuAu/water data of
``benchmarks/make_cuau_water.py``. A frame whose SCF does not converge is
tried again with stronger charge mixing damping before it is given up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import CalculationFailed, Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from lightning_modules.data.isolated_atoms import check_calculator

logger = logging.getLogger(__name__)

XTB_DAMPINGS = (0.4, 0.1)  # tblite's default charge mixing damping, then a strong one


def calculator_for(name: str, damping: float = XTB_DAMPINGS[0]) -> Calculator:
    """A fresh ASE calculator called ``name`` (``emt`` or ``gfn1-xtb``)."""
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    from tblite.ase import TBLite

    return TBLite(
        method="GFN1-xTB",
        electronic_temperature=300.0,
        verbosity=0,
        mixer_damping=damping,
        max_iterations=250 if damping >= XTB_DAMPINGS[0] else 1000,
    )


def label_one(frame: Atoms, name: str) -> Atoms:
    """A copy of ``frame`` with ``name``'s energy and forces; CalculationFailed when it cannot."""
    dampings = XTB_DAMPINGS if name == "gfn1-xtb" else (XTB_DAMPINGS[0],)
    for attempt, damping in enumerate(dampings):
        atoms = frame.copy()
        atoms.calc = calculator_for(name, damping)
        try:
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        except CalculationFailed:
            if attempt == len(dampings) - 1:
                raise
            continue
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        return atoms
    raise AssertionError("unreachable")  # pragma: no cover


def check_frames(frames: Iterable[Atoms], name: str) -> None:
    """A one-line error before any label: ``name`` unknown, lacking an element, or not installed."""
    check_calculator(name, sorted({s for frame in frames for s in frame.get_chemical_symbols()}))


def label_frames(frames: Iterable[Atoms], name: str) -> list[Atoms]:
    """Copies of ``frames`` labelled by ``name``; the calculator and elements checked first."""
    frames = list(frames)
    check_frames(frames, name)
    return [label_one(frame, name) for frame in frames]


def spread_indices(count: int, wanted: int) -> np.ndarray:
    """``wanted`` indices evenly spread over ``range(count)``, the first and last included."""
    if count == 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, count - 1, min(wanted, count)).round().astype(int))


def force_rmse(frame: Atoms, reference: Atoms) -> float:
    """Root mean square difference of the two frames' forces (eV/A)."""
    return float(np.sqrt(np.mean((frame.get_forces() - reference.get_forces()) ** 2)))


@dataclass
class Relabelled:
    """Frames of a trajectory labelled anew; which could not be; how far their own forces were."""

    frames: list[Atoms] = field(default_factory=list)
    unconverged: list[int] = field(default_factory=list)  # frame indices the SCF gave up on
    own_force_rmse: list[float] = field(default_factory=list)  # per labelled frame that had forces


def relabel_spread(trajectory: Sequence[Atoms], wanted: int, name: str) -> Relabelled:
    """``wanted`` frames spread over ``trajectory``, labelled by ``name`` (checked first).

    Each labelled frame records its index (``info['frame']``) and keeps a
    ``time_ps`` it had; a frame that carried forces (an MD check's trajectory
    holds the model's) is compared with the new label. A frame the SCF cannot
    converge is left out and its index kept.
    """
    check_frames(trajectory, name)
    result = Relabelled()
    for index in spread_indices(len(trajectory), wanted):
        frame = trajectory[int(index)]
        try:
            label = label_one(frame, name)
        except CalculationFailed as error:
            logger.warning("frame %d: %s did not converge (%s)", index, name, error)
            result.unconverged.append(int(index))
            continue
        if frame.calc is not None and "forces" in frame.calc.results:
            result.own_force_rmse.append(force_rmse(frame, label))
        label.info = {
            "frame": int(index),
            "calculator": name,
            **({"time_ps": frame.info["time_ps"]} if "time_ps" in frame.info else {}),
        }
        result.frames.append(label)
    return result
