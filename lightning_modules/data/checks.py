"""Validation of a data set: errors for unusable data, warnings for suspicious data.

Errors (:class:`DataError`): NaN or inf values, atomic numbers outside 1..118,
atoms closer than 0.3 A. Warnings (:class:`DataWarning`): duplicated
structures, a file name whose formula disagrees with ``z``, energies that look
like another unit than the one declared.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols
from ase.formula import Formula

from lightning_modules.conventions import DEFAULT_ENERGY_UNIT, HARTREE_IN_EV
from lightning_modules.data.atoms import AtomsData, DataError, DataWarning
from lightning_modules.geometry.neighbors import minimum_distance

logger = logging.getLogger(__name__)

MIN_DISTANCE = 0.3  # Angstrom; closer atoms are an error in the data


def validate_data(data: AtomsData, energy_unit: str = DEFAULT_ENERGY_UNIT) -> None:
    """Raise :class:`DataError` for unusable data; warn (:class:`DataWarning`) for suspicious data."""
    where = ", ".join(data.sources)
    if len(data) == 0:
        raise DataError(f"{where}: no structures")
    for name, values in (
        ("positions", data.positions),
        ("energies", data.energy),
        ("forces", data.forces),
        ("cells", data.cell),
    ):
        bad = ~np.isfinite(values)
        if bad.any():
            count = int(bad.reshape(bad.shape[0], -1).any(axis=1).sum())
            raise DataError(
                f"{where}: {count} entries of the {name} are NaN or inf; "
                f"remove or fix those structures"
            )
    bad_numbers = (data.numbers < 1) | (data.numbers > 118)
    if bad_numbers.any():
        outside = sorted({int(z) for z in data.numbers[bad_numbers]})
        raise DataError(
            f"{where}: atomic numbers {outside} are outside 1..118; z must hold atomic numbers"
        )
    too_close = []
    for k in range(len(data)):
        atoms = data.atoms_of(k)
        cell = data.cell[k] if data.is_periodic(k) else None
        pbc = data.pbc[k] if data.is_periodic(k) else None
        if minimum_distance(data.positions[atoms], cell, pbc) < MIN_DISTANCE:
            too_close.append(k)
    if too_close:
        raise DataError(
            f"{where}: {len(too_close)} structure(s) have atoms closer than {MIN_DISTANCE} A "
            f"(first: {too_close[:5]}); positions must be in Angstrom, or remove them"
        )
    check_file_formula(data)
    check_energy_unit(data, energy_unit)
    warn_duplicates(data)


def warn_duplicates(data: AtomsData) -> int:
    """Warn with the number of structures identical (to 1e-6 A) to an earlier one; return it."""
    offsets = data.atom_offsets
    seen: set[bytes] = set()
    duplicates = 0
    rounded = np.round(data.positions, 6)
    for k in range(len(data)):
        key = (
            data.numbers[offsets[k] : offsets[k + 1]].tobytes()
            + rounded[offsets[k] : offsets[k + 1]].tobytes()
        )
        if key in seen:
            duplicates += 1
        seen.add(key)
    if duplicates:
        warnings.warn(
            f"{', '.join(data.sources)}: {duplicates} of {len(data)} structures duplicate an "
            f"earlier one; they can leak between train and test splits",
            DataWarning,
            stacklevel=2,
        )
    return duplicates


_STEM_COUNT = re.compile(r"^([A-Z][a-z]?)=(\d+)$")


def _folder_tokenisations(folder: str) -> list[list[tuple[str, str]]]:
    """Every split of a folder name like ``SeBn`` into (symbol, multiplicity) pairs.

    ``n`` stands for the count of the file's element, so ``AlCn`` is Al + C(n)
    as well as Al + Cn (copernicium); both readings are returned.
    """
    if not folder:
        return [[]]
    readings = []
    for length in (1, 2):
        symbol = folder[:length]
        if len(symbol) < length or not symbol[0].isupper() or symbol not in chemical_symbols:
            continue
        if length == 2 and not symbol[1].islower():
            continue
        rest = folder[length:]
        digits = re.match(r"n|\d*", rest)
        options = {digits.group(0) if digits else ""}
        options.add("")  # "n" may also begin nothing else: try without a multiplicity
        for multiplicity in options:
            remainder = rest[len(multiplicity) :]
            if remainder and not remainder[0].isupper():
                continue
            for tail in _folder_tokenisations(remainder):
                readings.append([(symbol, multiplicity), *tail])
    return readings


def formula_from_path(path: str | Path) -> str | None:
    """The formula a file name claims, or None when it claims none.

    Understands the SeB_n layout ``<formula with n>/<element>=<k>.npz`` for any
    formula (``SeBn/B=20.npz`` is SeB20, ``Bn/B=17.npz`` B17, ``AlCn/C=20.npz``
    AlC20: the ``n`` belongs to the file's element) and file stems that are
    formulas (``Cu13.xyz``).
    """
    path = Path(path)
    stem_match = _STEM_COUNT.match(path.stem)
    if stem_match:
        element, count = stem_match.group(1), int(stem_match.group(2))
        readings = [  # the reading in which the file's element, and only it, carries the n
            tokens
            for tokens in _folder_tokenisations(path.parent.name.split("-")[0])
            if (element, "n") in tokens and sum(m == "n" for _, m in tokens) == 1
        ]
        if not readings:  # a folder that is no formula with n claims nothing
            return None
        return "".join(
            f"{symbol}{count if multiplicity == 'n' else multiplicity}"
            for symbol, multiplicity in readings[0]
        )
    try:
        formula = Formula(path.stem)
    except ValueError:
        return None
    if formula.count() and all(symbol in chemical_symbols for symbol in formula.count()):
        return path.stem
    return None


def check_file_formula(data: AtomsData) -> None:
    """Warn when a file's name claims another formula than its atomic numbers hold."""
    for source_index, source in enumerate(data.sources):
        claimed = formula_from_path(source)
        if claimed is None:
            continue
        members = np.flatnonzero(data.source == source_index)
        if not len(members):
            continue
        actual = data.formula(int(members[0]))
        if Formula(claimed).count() != Formula(actual).count():
            n_atoms = int(data.n_atoms[members[0]])
            warnings.warn(
                f"{source}: the file name says {claimed} but z holds {actual} ({n_atoms} atoms); "
                f"the formula is taken from z",
                DataWarning,
                stacklevel=2,
            )


def all_electron_energy_estimate(numbers: np.ndarray) -> float:
    """Rough all-electron total energy (eV) of free atoms: -0.6 Z^(7/3) Hartree each.

    Thomas-Fermi scaling; within about 25% of Hartree-Fock atoms from B to Se.
    Only used to recognise a wrong energy unit.
    """
    return float(
        -0.6 * np.sum(np.asarray(numbers, dtype=np.float64) ** (7.0 / 3.0)) * HARTREE_IN_EV
    )


def check_energy_unit(data: AtomsData, energy_unit: str) -> None:
    """Warn when the energies look like another unit than the one declared.

    All-electron energies (Gaussian, ORCA, ...) are close to the sum of the
    free-atom energies: read in the wrong unit they are 27x too small
    (Hartree read as eV) or too large (eV read as Hartree).
    """
    first = data.atoms_of(0)
    ratio = abs(data.energy[0]) / abs(all_electron_energy_estimate(data.numbers[first]))
    where = ", ".join(data.sources)
    if 0.015 < ratio < 0.08:
        warnings.warn(
            f"{where}: energies are about 1/27 of all-electron energies in eV; they look like "
            f"Hartree read as {energy_unit}: pass energy_unit='hartree' (--energy-unit hartree)",
            DataWarning,
            stacklevel=2,
        )
    elif ratio > 5.0:
        warnings.warn(
            f"{where}: energies are {ratio:.0f}x all-electron energies; they look like eV read "
            f"as {energy_unit}: pass energy_unit='ev' (--energy-unit ev)",
            DataWarning,
            stacklevel=2,
        )


def unit_ratio(data: AtomsData) -> float:
    """Median |energy| / |all-electron estimate| over up to 50 structures (1 for all-electron eV)."""
    ratios = []
    for k in range(min(len(data), 50)):
        estimate = abs(all_electron_energy_estimate(data.numbers[data.atoms_of(k)]))
        if estimate > 0:
            ratios.append(abs(float(data.energy[k])) / estimate)
    return float(np.median(ratios)) if ratios else 0.0


def check_units_agree(parts: Sequence[AtomsData]) -> None:
    """Refuse files of one data set whose energies differ by about a Hartree/eV factor.

    Compared as each file's energies over the free atoms' all-electron estimate;
    files whose energies are near zero (relative energies, EMT) are not compared.
    """
    scored = [(part, unit_ratio(part)) for part in parts]
    scored = [(part, ratio) for part, ratio in scored if ratio > 0.005]
    for part, ratio in scored[1:]:
        first, first_ratio = scored[0]
        factor = max(ratio, first_ratio) / min(ratio, first_ratio)
        if 15.0 < factor < 50.0:
            larger = part if ratio > first_ratio else first
            raise DataError(
                f"{', '.join(part.sources)}: its energies are {factor:.0f}x "
                f"{'larger' if larger is part else 'smaller'} than those of "
                f"{', '.join(first.sources)} for the same atoms, as Hartree beside eV; convert "
                f"one file to the other's unit (one --energy-unit reads them all)"
            )
