"""Isolated-atom reference energies from a real calculator, and the file that holds them.

Element references fitted on data of a single composition are not
identifiable (:mod:`lightning_modules.data.references`); the energy of each
element's free atom, computed with the calculator that labelled the data,
fixes them. Calculators:

* ``emt``: ASE's effective medium theory (H, C, N, O, Al, Ni, Cu, Pd, Ag, Pt, Au);
* ``gfn1-xtb``: GFN1-xTB through ``tblite``. An atom with an odd number of
  electrons needs unpaired electrons; every spin state of the atom's parity
  (0, 2, 4, ... or 1, 3, 5, ... unpaired electrons, up to Hund's count) is
  computed and the lowest is kept, as GFN1-xTB has no spin polarisation term
  to favour high spin. The number used is written to the file.

The file (YAML) is what ``element_energies`` in a config, ``--element-energies``
of ``train``, ``sweep`` and ``finetune`` take::

    calculator: gfn1-xtb
    element_energies: {Cu: -119.482, Au: -106.177, O: -118.442, H: -10.923}  # eV per free atom
    unpaired_electrons: {Cu: 1, Au: 1, O: 0, H: 1}                           # gfn1-xtb only
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ase import Atoms
from ase.data import atomic_numbers

from lightning_modules.conventions import CALCULATORS
from lightning_modules.errors import PesweepError
from lightning_modules.yaml_numbers import load_yaml

EMT_ELEMENTS = ("H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")
# electrons each subshell holds, in aufbau order: 1s 2s 2p 3s 3p 4s 3d 4p 5s 4d 5p 6s 4f 5d 6p 7s 5f 6d 7p
SUBSHELL_CAPACITIES = (2, 2, 6, 2, 6, 2, 10, 6, 2, 10, 6, 2, 14, 10, 6, 2, 14, 10, 6)


class ReferencesError(PesweepError):
    """Reference energies that cannot be computed or read; the message names the fix."""


@dataclass(frozen=True)
class AtomEnergy:
    """The energy (eV) of one free atom and the unpaired electrons it was computed with."""

    element: str
    energy: float
    unpaired_electrons: int


def hund_unpaired_electrons(number: int) -> int:
    """Unpaired electrons of the aufbau ground configuration (Hund's rule on the last subshell)."""
    left, unpaired = number, 0
    for capacity in SUBSHELL_CAPACITIES:
        if left <= 0:
            break
        filled = min(left, capacity)
        orbitals = capacity // 2
        unpaired = filled if filled <= orbitals else capacity - filled
        left -= filled
    return unpaired


def parse_elements(text: str) -> list[str]:
    """``Cu,Au,O,H`` -> symbols, refusing unknown ones by name."""
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in symbols if s not in atomic_numbers]
    if not symbols or unknown:
        raise ReferencesError(
            f"unknown element(s) {', '.join(unknown) or '(none given)'}; "
            f"give symbols like Cu,Au,O,H"
        )
    return list(dict.fromkeys(symbols))


def check_calculator(calculator: str, elements: list[str]) -> None:
    """A one-line error before any calculation: unknown calculator, element it lacks, no tblite."""
    if calculator not in CALCULATORS:
        raise ReferencesError(f"unknown calculator {calculator!r}; choose {', '.join(CALCULATORS)}")
    if calculator == "emt":
        lacking = [s for s in elements if s not in EMT_ELEMENTS]
        if lacking:
            raise ReferencesError(
                f"ASE's EMT has no parameters for {', '.join(lacking)}; it covers "
                f"{', '.join(EMT_ELEMENTS)} (use --calculator gfn1-xtb)"
            )
    else:
        try:
            import tblite.ase  # noqa: F401
        except ImportError as error:
            raise ReferencesError(
                "GFN1-xTB needs tblite: pip install 'pesweep[xtb]' (or pip install tblite)"
            ) from error


def _gfn1_xtb_energy(symbol: str) -> AtomEnergy:
    from tblite.ase import TBLite

    number = atomic_numbers[symbol]
    best: AtomEnergy | None = None
    for unpaired in range(number % 2, hund_unpaired_electrons(number) + 1, 2):
        atoms = Atoms(symbol, positions=[[0.0, 0.0, 0.0]])
        atoms.set_initial_magnetic_moments([unpaired])  # tblite takes its sum as uhf
        atoms.calc = TBLite(method="GFN1-xTB", verbosity=0)
        energy = float(atoms.get_potential_energy())
        if best is None or energy < best.energy:
            best = AtomEnergy(symbol, energy, unpaired)
    assert best is not None
    return best


def _emt_energy(symbol: str) -> AtomEnergy:
    from ase.calculators.emt import EMT

    atoms = Atoms(symbol, positions=[[0.0, 0.0, 0.0]])
    atoms.calc = EMT()
    return AtomEnergy(symbol, float(atoms.get_potential_energy()), 0)


def isolated_atom_energies(elements: list[str], calculator: str) -> list[AtomEnergy]:
    """The free-atom energy (eV) of each element with ``calculator`` (``emt`` or ``gfn1-xtb``)."""
    check_calculator(calculator, elements)
    compute = _emt_energy if calculator == "emt" else _gfn1_xtb_energy
    return [compute(symbol) for symbol in elements]


def write_references(path: str | Path, energies: list[AtomEnergy], calculator: str) -> Path:
    """Write the YAML file :func:`read_element_energies` reads."""
    path = Path(path)
    document: dict[str, Any] = {
        "calculator": calculator,
        "element_energies": {e.element: e.energy for e in energies},
    }
    if calculator == "gfn1-xtb":
        document["unpaired_electrons"] = {e.element: e.unpaired_electrons for e in energies}
    path.write_text(
        "# isolated-atom energies (eV), written by `pesweep references`\n"
        + yaml.safe_dump(document, sort_keys=False)
    )
    return path


def read_element_energies(path: str | Path) -> dict[str, float]:
    """Element energies (eV by symbol) from a references file (or a plain mapping in YAML)."""
    path = Path(path)
    if not path.is_file():
        raise ReferencesError(
            f"{path}: no such references file (write one with `pesweep references`)"
        )
    try:
        document: Any = load_yaml(path.read_text())
    except yaml.YAMLError as error:
        raise ReferencesError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from error
    if isinstance(document, dict) and "element_energies" in document:
        document = document["element_energies"]
    if not isinstance(document, dict) or not document:
        raise ReferencesError(f"{path}: expected element_energies: {{Cu: -119.5, ...}} (eV)")
    energies: dict[str, float] = {}
    for symbol, value in document.items():
        if str(symbol) not in atomic_numbers:
            raise ReferencesError(f"{path}: unknown element {symbol!r}")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ReferencesError(
                f"{path}: the energy of {symbol} is {value!r}, not a finite number"
            )
        energies[str(symbol)] = float(value)
    return energies
