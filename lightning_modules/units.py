"""Energy units pesweep reads (one list for every command and config), as eV per unit.

Internally everything is Angstrom, eV and eV/Angstrom; a data file declares
the unit of its energies (the SeB_n npz files are Hartree). Unit names are
case-insensitive: ``eV``, ``ev`` and ``EV`` are the same unit.
"""

from __future__ import annotations

HARTREE_IN_EV = 27.211386
ENERGY_UNITS: dict[str, float] = {
    "ev": 1.0,
    "hartree": HARTREE_IN_EV,
    "kcal/mol": 0.0433641,
    "kj/mol": 0.0103643,
    "mev": 1e-3,
}


def normalise_energy_unit(name: str) -> str:
    """The canonical (lower-case) name of an energy unit; ``ValueError`` naming the choices."""
    key = str(name).strip().lower()
    if key not in ENERGY_UNITS:
        raise ValueError(f"unknown energy unit {name!r}; use one of {', '.join(ENERGY_UNITS)} "
                         f"(case does not matter)")
    return key
