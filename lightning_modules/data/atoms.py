"""The data set as arrays: :class:`AtomsData` (Angstrom, eV, eV/Angstrom) and its errors."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase.data import chemical_symbols
from ase.symbols import Symbols

from lightning_modules.conventions import ENERGY_UNITS, normalise_energy_unit
from lightning_modules.errors import PesweepError

logger = logging.getLogger(__name__)


class DataError(PesweepError):
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

    def as_record(self, index: int) -> dict[str, Any]:
        """Structure ``index`` as plain lists: ``numbers``, ``positions`` (Angstrom), and for a
        periodic one ``cell`` (Angstrom) and ``pbc``: a row of a served model's input table."""
        atoms = self.atoms_of(index)
        record: dict[str, Any] = {
            "numbers": self.numbers[atoms].astype(int).tolist(),
            "positions": self.positions[atoms].astype(float).tolist(),
        }
        if self.is_periodic(index):
            record["cell"] = self.cell[index].astype(float).tolist()
            record["pbc"] = self.pbc[index].astype(bool).tolist()
        return record

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
        for array in (
            self.numbers,
            self.positions,
            self.n_atoms,
            self.energy,
            self.forces,
            self.cell,
            self.pbc,
        ):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def source_summaries(self) -> list[dict[str, Any]]:
        """Per file read: its path, structures, element symbols and the fingerprint of its data."""
        summaries = []
        for index, path in enumerate(self.sources):
            part = self.subset(np.flatnonzero(self.source == index))
            summaries.append(
                {
                    "path": path,
                    "n_structures": len(part),
                    "elements": [chemical_symbols[z] for z in part.elements()],
                    "digest": part.fingerprint(),
                }
            )
        return summaries

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
