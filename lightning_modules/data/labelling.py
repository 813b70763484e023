"""New labels (energy in eV, forces in eV/Angstrom) from a real calculator.

``emt`` is ASE's effective medium theory (metals and a few light elements);
``gfn1-xtb`` is GFN1-xTB through ``tblite`` (the optional extra
``pesweep[xtb]``), at 300 K electronic temperature as the CuAu/water data of
``benchmarks/make_cuau_water.py``. A frame whose SCF does not converge is
tried again with stronger charge mixing damping before it is given up.
"""

from __future__ import annotations

from collections.abc import Iterable

from ase import Atoms
from ase.calculators.calculator import CalculationFailed, Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from lightning_modules.data.isolated_atoms import check_calculator

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


def label_frames(frames: Iterable[Atoms], name: str) -> list[Atoms]:
    """Copies of ``frames`` labelled by ``name``; the calculator and elements checked first."""
    frames = list(frames)
    symbols = sorted({s for frame in frames for s in frame.get_chemical_symbols()})
    check_calculator(name, symbols)
    return [label_one(frame, name) for frame in frames]
