"""Reading and validating atomistic data sets (positions, energies, forces).

Internally every data set is an :class:`AtomsData`: positions float64 in
Angstrom, energies in eV, forces in eV/Angstrom, atoms of all structures
concatenated. Readers:

* the seed ``.npz`` format (``R`` positions in Angstrom, ``E`` energies, ``z``
  atomic numbers, optional ``F`` forces) with the energy unit declared by
  the caller (the SeB_n files are Hartree);
* ænet's XSF flavour (a file, a directory or a .tar.gz of them;
  :mod:`lightning_modules.xsf`);
* everything ``ase.io`` reads with energies (extxyz, ASE db, trajectories, ...).

:func:`load_data` reads one or more files and validates them: problems that
make training meaningless raise :class:`DataError` (one line naming the
problem and the fix); suspicious but usable data warn with
:class:`DataWarning`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols
from ase.formula import Formula
from ase.symbols import Symbols

from lightning_modules.neighbors import minimum_distance
from lightning_modules.units import ENERGY_UNITS, HARTREE_IN_EV, normalise_energy_unit

logger = logging.getLogger(__name__)

MIN_DISTANCE = 0.3  # Angstrom; closer atoms are an error in the data
ASE_SUFFIXES = {".xyz", ".extxyz", ".db", ".traj", ".json", ".cif", ".xml", ".vasp", ".out"}


class DataError(ValueError):
    """A data set that cannot be used; the message names the problem and the fix."""


class DataWarning(UserWarning):
    """A data set that is usable but suspicious (duplicates, mislabelled files, units)."""


@dataclass(frozen=True)
class AtomsData:
    """Structures with energies (and forces), atoms of all structures concatenated.

    ``numbers`` [n_atoms_total] atomic numbers; ``positions`` [n_atoms_total, 3]
    Angstrom; ``n_atoms`` [n_structures]; ``energy`` [n_structures] eV;
    ``forces`` [n_atoms_total, 3] eV/Angstrom (zeros where ``has_forces`` is
    False); ``cell`` [n_structures, 3, 3] Angstrom and ``pbc`` [n_structures, 3]
    (zeros/False for isolated clusters); ``source`` [n_structures] index into
    ``sources`` (the files read).
    """

    numbers: np.ndarray
    positions: np.ndarray
    n_atoms: np.ndarray
    energy: np.ndarray
    forces: np.ndarray
    has_forces: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    source: np.ndarray
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.n_atoms.shape[0])

    @property
    def atom_offsets(self) -> np.ndarray:
        """Index of the first atom of each structure, [n_structures + 1]."""
        return np.concatenate([[0], np.cumsum(self.n_atoms)]).astype(np.int64)

    def atoms_of(self, index: int) -> slice:
        """Slice of the concatenated atom arrays that belongs to structure ``index``."""
        offsets = self.atom_offsets
        return slice(int(offsets[index]), int(offsets[index + 1]))

    def is_periodic(self, index: int) -> bool:
        return bool(self.pbc[index].any())

    def formula(self, index: int) -> str:
        """Chemical formula (Hill order) of structure ``index``."""
        return Symbols(self.numbers[self.atoms_of(index)]).get_chemical_formula()

    def formulas(self) -> list[str]:
        return [self.formula(k) for k in range(len(self))]

    def subset(self, indices: Sequence[int] | np.ndarray) -> AtomsData:
        """The structures at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        offsets = self.atom_offsets
        atom_index = (
            np.concatenate([np.arange(offsets[k], offsets[k + 1]) for k in indices])
            if len(indices)
            else np.zeros(0, dtype=np.int64)
        )
        return AtomsData(
            numbers=self.numbers[atom_index],
            positions=self.positions[atom_index],
            n_atoms=self.n_atoms[indices],
            energy=self.energy[indices],
            forces=self.forces[atom_index],
            has_forces=self.has_forces[indices],
            cell=self.cell[indices],
            pbc=self.pbc[indices],
            source=self.source[indices],
            sources=self.sources,
        )

    def fingerprint(self) -> str:
        """SHA-256 of the arrays (not of the file bytes): equal data, equal fingerprint."""
        digest = hashlib.sha256()
        for array in (self.numbers, self.positions, self.n_atoms, self.energy, self.forces,
                      self.cell, self.pbc):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def elements(self) -> list[int]:
        """Sorted atomic numbers present in the data."""
        return sorted(int(z) for z in np.unique(self.numbers))


def concatenate(parts: Sequence[AtomsData]) -> AtomsData:
    """Join data sets; their ``sources`` are concatenated and ``source`` re-indexed."""
    if not parts:
        raise DataError("no data given: pass at least one data file")
    sources: list[str] = []
    source_index = []
    for part in parts:
        source_index.append(part.source + len(sources))
        sources.extend(part.sources)
    return AtomsData(
        numbers=np.concatenate([p.numbers for p in parts]),
        positions=np.concatenate([p.positions for p in parts]),
        n_atoms=np.concatenate([p.n_atoms for p in parts]),
        energy=np.concatenate([p.energy for p in parts]),
        forces=np.concatenate([p.forces for p in parts]),
        has_forces=np.concatenate([p.has_forces for p in parts]),
        cell=np.concatenate([p.cell for p in parts]),
        pbc=np.concatenate([p.pbc for p in parts]),
        source=np.concatenate(source_index),
        sources=tuple(sources),
    )


def energy_unit_factor(energy_unit: str) -> float:
    """eV per ``energy_unit`` (``ev``, ``hartree``, ``kcal/mol``, ``kj/mol``, ``mev``)."""
    try:
        return ENERGY_UNITS[normalise_energy_unit(energy_unit)]
    except ValueError as error:
        raise DataError(str(error)) from error


def read_npz(path: str | Path, energy_unit: str = "ev") -> AtomsData:
    """Read the seed npz format: ``R`` [n, atoms, 3] Angstrom, ``E`` [n] or [n, 1], ``z``, ``F``.

    ``z`` is [atoms] (shared by all structures) or [n, atoms]; energies and
    forces are in ``energy_unit`` (forces per Angstrom) and converted to eV.
    """
    path = Path(path)
    factor = energy_unit_factor(energy_unit)
    with np.load(path) as archive:
        missing = [key for key in ("R", "E", "z") if key not in archive.files]
        if missing:
            raise DataError(
                f"{path}: missing array(s) {', '.join(missing)}; the npz format needs R "
                f"(positions, Angstrom), E (energies) and z (atomic numbers), found "
                f"{', '.join(archive.files) or 'none'}"
            )
        positions = np.asarray(archive["R"], dtype=np.float64)
        energy = np.asarray(archive["E"], dtype=np.float64)
        numbers = np.asarray(archive["z"])
        forces = np.asarray(archive["F"], dtype=np.float64) if "F" in archive.files else None
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise DataError(
            f"{path}: R has shape {positions.shape}; expected (n_structures, n_atoms, 3)"
        )
    n_structures, n_atoms, _ = positions.shape
    if n_structures == 0 or n_atoms == 0:
        raise DataError(f"{path}: the file holds no structures (R has shape {positions.shape})")
    if energy.shape not in ((n_structures,), (n_structures, 1)):
        raise DataError(
            f"{path}: E has shape {energy.shape} but R holds {n_structures} structures; "
            f"expected ({n_structures},) or ({n_structures}, 1)"
        )
    if numbers.shape == (n_atoms,):
        numbers = np.tile(numbers, n_structures)
    elif numbers.shape == (n_structures, n_atoms):
        numbers = numbers.reshape(-1)
    else:
        raise DataError(
            f"{path}: z has shape {numbers.shape}; expected ({n_atoms},) or "
            f"({n_structures}, {n_atoms}) to match R {positions.shape}"
        )
    if not np.all(np.isfinite(numbers)) or not np.all(np.equal(np.mod(numbers, 1), 0)):
        raise DataError(f"{path}: z holds non-integer atomic numbers")
    if forces is not None and forces.shape != positions.shape:
        raise DataError(
            f"{path}: F has shape {forces.shape}; expected {positions.shape} like R"
        )
    total_atoms = n_structures * n_atoms
    return AtomsData(
        numbers=numbers.astype(np.int64),
        positions=positions.reshape(total_atoms, 3),
        n_atoms=np.full(n_structures, n_atoms, dtype=np.int64),
        energy=energy.reshape(n_structures) * factor,
        forces=(forces.reshape(total_atoms, 3) * factor if forces is not None
                else np.zeros((total_atoms, 3))),
        has_forces=np.full(n_structures, forces is not None),
        cell=np.zeros((n_structures, 3, 3)),
        pbc=np.zeros((n_structures, 3), dtype=bool),
        source=np.zeros(n_structures, dtype=np.int64),
        sources=(str(path),),
    )


def read_ase(path: str | Path, energy_unit: str = "ev") -> AtomsData:
    """Read any format ``ase.io`` reads with energies (extxyz, ASE db, ...); forces if stored."""
    import ase.io

    path = Path(path)
    factor = energy_unit_factor(energy_unit)
    try:
        frames = ase.io.read(path, index=":")
    except Exception as error:  # ase raises many types for unreadable files
        raise DataError(f"{path}: ase.io cannot read it ({error}); check the file format") from error
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise DataError(f"{path}: the file holds no structures")
    energies, forces, has_forces = [], [], []
    for index, atoms in enumerate(frames):
        if atoms.calc is None:
            raise DataError(
                f"{path}: structure {index} has no energy; store energies "
                f"(e.g. extxyz with energy=... in the comment line)"
            )
        try:
            energies.append(atoms.get_potential_energy())
        except Exception as error:
            raise DataError(f"{path}: structure {index} has no energy ({error})") from error
        try:
            forces.append(np.asarray(atoms.get_forces(), dtype=np.float64))
            has_forces.append(True)
        except Exception:  # ase raises PropertyNotImplementedError or others when absent
            forces.append(np.zeros((len(atoms), 3)))
            has_forces.append(False)
    n = len(frames)
    return AtomsData(
        numbers=np.concatenate([a.numbers for a in frames]).astype(np.int64),
        positions=np.concatenate([a.positions for a in frames]).astype(np.float64),
        n_atoms=np.array([len(a) for a in frames], dtype=np.int64),
        energy=np.asarray(energies, dtype=np.float64) * factor,
        forces=np.concatenate(forces) * factor,
        has_forces=np.asarray(has_forces),
        cell=np.stack([np.asarray(a.cell.array, dtype=np.float64) for a in frames]),
        pbc=np.stack([np.asarray(a.pbc, dtype=bool) for a in frames]),
        source=np.zeros(n, dtype=np.int64),
        sources=(str(path),),
    )


def read_data(path: str | Path, energy_unit: str = "ev") -> AtomsData:
    """Read one data file by its suffix (``.npz``, ænet XSF/dir/.tar.gz, or an ``ase.io`` format)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path (relative to {Path.cwd()})")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    from lightning_modules.xsf import is_xsf_source, read_xsf  # xsf builds on this module

    if is_xsf_source(path):
        return read_xsf(path, energy_unit)
    if path.suffix == ".npz":
        if path.is_file() and not zipfile.is_zipfile(path):
            raise DataError(
                f"{path}: not an npz file (an npz file is a zip archive of numpy arrays); check "
                f"the file, or give it the suffix of its real format"
            )
        try:
            return read_npz(path, energy_unit)
        except (OSError, ValueError) as error:
            if isinstance(error, DataError):
                raise
            if "pickle" in str(error):
                raise DataError(f"{path}: holds object arrays (pickled data), which pesweep never "
                                f"loads; save R, E, z and F as numeric arrays") from error
            raise DataError(f"{path}: not a readable npz file ({error})") from error
    return read_ase(path, energy_unit)


def load_data(
    paths: str | Path | Sequence[str | Path], energy_unit: str = "ev", validate: bool = True
) -> AtomsData:
    """Read and validate one or more data files into one :class:`AtomsData` (eV, Angstrom)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    parts = []
    for path in paths:
        part = read_data(path, energy_unit)
        if validate:
            validate_data(part, energy_unit=energy_unit)
        parts.append(part)
    data = concatenate(parts)
    if validate and len(parts) > 1:
        warn_duplicates(data)
    return data


def validate_data(data: AtomsData, energy_unit: str = "ev") -> None:
    """Raise :class:`DataError` for unusable data; warn (:class:`DataWarning`) for suspicious data."""
    where = ", ".join(data.sources)
    if len(data) == 0:
        raise DataError(f"{where}: no structures")
    for name, values in (("positions", data.positions), ("energies", data.energy),
                         ("forces", data.forces), ("cells", data.cell)):
        bad = ~np.isfinite(values)
        if bad.any():
            count = int(bad.reshape(bad.shape[0], -1).any(axis=1).sum())
            raise DataError(
                f"{where}: {count} entries of the {name} are NaN or inf; "
                f"remove or fix those structures"
            )
    bad_numbers = (data.numbers < 1) | (data.numbers > 118)
    if bad_numbers.any():
        values = sorted({int(z) for z in data.numbers[bad_numbers]})
        raise DataError(
            f"{where}: atomic numbers {values} are outside 1..118; z must hold atomic numbers"
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
        key = (data.numbers[offsets[k]:offsets[k + 1]].tobytes()
               + rounded[offsets[k]:offsets[k + 1]].tobytes())
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


def _folder_tokens(folder: str) -> list[tuple[str, str]] | None:
    """Split a folder name like ``SeBn`` into (symbol, multiplicity) pairs; ``n`` is the count."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(folder):
        if not folder[position].isupper():
            return None
        symbol = folder[position]
        position += 1
        two_letter = folder[position - 1:position + 1]
        if (position < len(folder) and folder[position].islower()
                and two_letter in chemical_symbols):
            symbol = two_letter
            position += 1
        if symbol not in chemical_symbols:
            return None
        match = re.match(r"n|\d*", folder[position:])
        multiplicity = match.group(0) if match else ""
        position += len(multiplicity)
        tokens.append((symbol, multiplicity))
    return tokens or None


def formula_from_path(path: str | Path) -> str | None:
    """The formula a file name claims, or None when it claims none.

    Understands the SeB_n layout (``SeBn/B=20.npz`` is SeB20, ``Bn/B=17.npz``
    is B17) and file stems that are formulas (``Cu13.xyz``).
    """
    path = Path(path)
    stem_match = _STEM_COUNT.match(path.stem)
    if stem_match:
        element, count = stem_match.group(1), int(stem_match.group(2))
        tokens = _folder_tokens(path.parent.name.split("-")[0])
        if tokens is None:
            return f"{element}{count}"
        return "".join(
            f"{symbol}{count if multiplicity == 'n' else multiplicity}"
            for symbol, multiplicity in tokens
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
    return float(-0.6 * np.sum(np.asarray(numbers, dtype=np.float64) ** (7.0 / 3.0))
                 * HARTREE_IN_EV)


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
