"""Small real data sets: Cu/Au clusters labelled by ASE's EMT calculator (seconds to make).

EMT (effective medium theory) is a real interatomic potential for fcc
metals; its energies (eV) and forces (eV/Angstrom) are consistent, so a
model trained on them can be checked for forces, conservation and transfer.
Used by ``pesweep demo`` on a machine without other data, and by the tests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.cluster import Icosahedron

logger = logging.getLogger(__name__)


def emt_clusters(
    n_structures: int = 200,
    seed: int = 0,
    elements: Sequence[str] = ("Cu", "Au"),
    shells: int = 2,
    rattle: float = 0.15,
    composition: dict[str, int] | None = None,
) -> list[Atoms]:
    """Rattled icosahedral clusters (13 atoms for 2 shells) of random composition with EMT labels.

    Each structure draws its composition, a lattice strain of +-4% and a
    Gaussian rattle of ``rattle`` Angstrom from a generator seeded by ``seed``.
    ``composition`` (e.g. ``{"Cu": 7, "Au": 6}``) fixes the counts instead;
    only the sites are drawn.
    """
    rng = np.random.default_rng(seed)
    template = Icosahedron(elements[0], noshells=shells)
    if composition is not None and sum(composition.values()) != len(template):
        raise ValueError(
            f"composition {composition} has {sum(composition.values())} atoms; "
            f"the {shells}-shell cluster has {len(template)}"
        )
    frames = []
    for _ in range(n_structures):
        atoms = template.copy()
        if composition is None:
            symbols = rng.choice(list(elements), size=len(atoms)).tolist()
        else:
            symbols = rng.permutation([s for s, n in composition.items() for _ in range(n)])
        atoms.set_chemical_symbols(list(symbols))
        atoms.positions *= 1.0 + rng.uniform(-0.04, 0.04)
        atoms.positions += rng.normal(0.0, rattle, size=atoms.positions.shape)
        atoms.center(vacuum=6.0)
        atoms.pbc = False
        atoms.calc = EMT()
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def write_emt_clusters(path: str | Path, n_structures: int = 200, seed: int = 0) -> Path:
    """Write :func:`emt_clusters` to an extxyz file (energies eV, forces eV/A); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = emt_clusters(n_structures=n_structures, seed=seed)
    for atoms in frames:
        atoms.cell = np.zeros((3, 3))
    ase.io.write(path, frames, format="extxyz")
    logger.info("wrote %d EMT Cu/Au clusters to %s", n_structures, path)
    return path
