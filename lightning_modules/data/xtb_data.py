"""GFN1-xTB labels (energies in eV, forces in eV/Angstrom) through ``tblite``'s ASE calculator.

A real semi-empirical calculator for elements EMT lacks (H, O with metals):
about 0.1 s per 13-atom Cu/Au cluster on one core. ``tblite`` is the
optional extra ``pesweep[xtb]``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from ase import Atoms

from lightning_modules.data.labelling import label_frames


def label_gfn1_xtb(frames: Iterable[Atoms]) -> list[Atoms]:
    """Copies of ``frames`` with GFN1-xTB energy and forces (closed shell, neutral)."""
    return label_frames(frames, "gfn1-xtb")


def add_waters(cluster: Atoms, n_water: int, seed: int = 0, distance: float = 2.3) -> Atoms:
    """``cluster`` with ``n_water`` H2O molecules, O ``distance`` A outside its surface, H away.

    The directions are drawn from a generator seeded by ``seed`` and kept
    apart, so molecules do not overlap; the cell is re-centred with 6 A vacuum.
    """
    rng = np.random.default_rng(seed)
    atoms = cluster.copy()
    centre = atoms.positions.mean(axis=0)
    radius = float(np.linalg.norm(atoms.positions - centre, axis=1).max())
    directions: list[np.ndarray] = []
    while len(directions) < n_water:
        candidate = rng.normal(size=3)
        candidate /= np.linalg.norm(candidate)
        if all(candidate @ d < 0.5 for d in directions):  # at least 60 degrees apart
            directions.append(candidate)
    for direction in directions:
        oxygen = centre + (radius + distance) * direction
        side = np.cross(direction, rng.normal(size=3))
        side /= np.linalg.norm(side)
        angle = np.deg2rad(104.5 / 2)
        hydrogens = [
            oxygen + 0.96 * (np.cos(angle) * direction + sign * np.sin(angle) * side)
            for sign in (1.0, -1.0)
        ]
        atoms += Atoms("OH2", positions=[oxygen, *hydrogens])
    atoms.center(vacuum=6.0)
    return atoms
