"""Pretraining subsets of a large data set, as in the ænet transfer-learning study.

* by elements: structures containing ``any`` of the elements, ``all`` of
  them, or ``only`` those elements (nothing else);
* at random: ``n`` structures, optionally stratified so that the subset
  follows the energy-per-atom distribution of the whole set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers, chemical_symbols

from lightning_modules.data.atoms import AtomsData, DataError

MODES = ("any", "all", "only")


def select_by_elements(data: AtomsData, elements: Sequence[str], mode: str = "any") -> np.ndarray:
    """Indices of structures containing any / all / only the given element symbols."""
    if mode not in MODES:
        raise DataError(f"unknown mode {mode!r}; use any, all or only")
    unknown = [e for e in elements if e not in atomic_numbers]
    if unknown:
        raise DataError(f"unknown element(s) {', '.join(unknown)}")
    wanted = {atomic_numbers[e] for e in elements}
    chosen = []
    for k in range(len(data)):
        present = set(np.unique(data.numbers[data.atoms_of(k)]).tolist())
        if (
            (mode == "any" and present & wanted)
            or (mode == "all" and wanted <= present)
            or (mode == "only" and present <= wanted)
        ):
            chosen.append(k)
    return np.asarray(chosen, dtype=np.int64)


def count_by_element(data: AtomsData) -> dict[str, int]:
    """How many structures contain each element (symbols in order of atomic number)."""
    counts: dict[str, int] = {}
    for k in range(len(data)):
        for z in np.unique(data.numbers[data.atoms_of(k)]).tolist():
            counts[chemical_symbols[z]] = counts.get(chemical_symbols[z], 0) + 1
    return dict(sorted(counts.items(), key=lambda item: atomic_numbers[item[0]]))


def random_subset(
    data: AtomsData, n: int, seed: int = 0, stratify_energy: bool = False, bins: int = 10
) -> np.ndarray:
    """``n`` random structure indices; stratified by energy per atom in ``bins`` quantile bins."""
    if not 0 < n <= len(data):
        raise DataError(f"cannot draw {n} of {len(data)} structures")
    rng = np.random.default_rng(seed)
    if not stratify_energy:
        return np.sort(rng.choice(len(data), n, replace=False))
    per_atom = data.energy / data.n_atoms
    edges = np.quantile(per_atom, np.linspace(0, 1, bins + 1))
    labels = np.clip(np.searchsorted(edges, per_atom, side="right") - 1, 0, bins - 1)
    chosen: list[int] = []
    counts = np.bincount(labels, minlength=bins)
    quotas = np.floor(counts / len(data) * n).astype(int)
    for extra in np.argsort(-(counts / len(data) * n - quotas))[: n - quotas.sum()]:
        quotas[extra] += 1
    for label in range(bins):
        members = np.flatnonzero(labels == label)
        chosen.extend(rng.choice(members, min(quotas[label], len(members)), replace=False))
    return np.sort(np.asarray(chosen, dtype=np.int64))


def write_extxyz(data: AtomsData, path: str | Path) -> Path:
    """Write structures with energies (eV) and forces (eV/A, where present) as extxyz."""
    frames = []
    for k in range(len(data)):
        atoms_slice = data.atoms_of(k)
        atoms = Atoms(
            numbers=data.numbers[atoms_slice],
            positions=data.positions[atoms_slice],
            cell=data.cell[k],
            pbc=data.pbc[k],
        )
        results: dict[str, Any] = {"energy": float(data.energy[k])}
        if data.has_forces[k]:
            results["forces"] = data.forces[atoms_slice]
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, frames, format="extxyz")
    return path
