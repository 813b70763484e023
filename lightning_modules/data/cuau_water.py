"""Starting structures of the CuAu + water study: metal clusters, adsorbates, molecules, water.

Pure builders (a structure from a seeded generator, no calculator): the
broad pretraining systems (Cu, Au, Ag, Pt, Ni clusters and their alloys, with
O / H / OH / H2O adsorbates; small H/C/N/O molecules; water clusters) and the
target systems (a Cu7Au6 icosahedron with one water, and with six). Labels
come from GFN1-xTB (:mod:`lightning_modules.data.xtb_data`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.cluster import Icosahedron

from lightning_modules.data.xtb_data import add_waters

# fcc nearest-neighbour distances (A): the cluster's lattice follows its composition
NEAREST_NEIGHBOUR = {"Cu": 2.55, "Ag": 2.89, "Au": 2.88, "Ni": 2.49, "Pt": 2.77}
METALS = tuple(NEAREST_NEIGHBOUR)
ADSORBATES = ("O", "H", "OH", "H2O")
MOLECULES = ("H2O", "H2", "CH4", "NH3", "CO", "CO2", "CH3OH", "HCOOH", "H2O2", "HCN", "C2H4")


@dataclass(frozen=True)
class SystemRecipe:
    """One system of the data set: how to build it and how to sample it."""

    name: str
    metals: tuple[str, ...] = ()  # the cluster's composition (symbols, one per atom)
    adsorbates: tuple[str, ...] = ()
    molecule: str = ""  # an ase.build molecule name
    n_water: int = 0  # water molecules (a water cluster when there are no metals)


def metal_cluster(symbols: tuple[str, ...], rng: np.random.Generator) -> Atoms:
    """A compact cluster of the given atoms: the sites of a 13- or 55-atom icosahedron
    nearest its centre, the elements shuffled over them, the spacing their mean."""
    spacing = float(np.mean([NEAREST_NEIGHBOUR[s] for s in symbols]))
    shells = 2 if len(symbols) <= 13 else 3
    template = Icosahedron("Cu", shells, latticeconstant=spacing * np.sqrt(2))
    centre = template.positions.mean(axis=0)
    order = np.argsort(np.linalg.norm(template.positions - centre, axis=1), kind="stable")
    atoms = template[order[: len(symbols)]]
    atoms.set_chemical_symbols(list(rng.permutation(list(symbols))))
    atoms.center(vacuum=6.0)
    return atoms


def add_adsorbates(cluster: Atoms, kinds: tuple[str, ...], rng: np.random.Generator) -> Atoms:
    """``cluster`` with O, H and OH on its surface (metal-O 1.95 A, metal-H 1.6 A), and H2O."""
    atoms = cluster.copy()
    n_water = sum(1 for kind in kinds if kind == "H2O")
    centre = atoms.positions.mean(axis=0)
    radius = float(np.linalg.norm(atoms.positions - centre, axis=1).max())
    directions: list[np.ndarray] = []
    for kind in kinds:
        if kind == "H2O":
            continue
        while True:
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            if all(direction @ d < 0.6 for d in directions):
                break
        directions.append(direction)
        if kind == "H":
            atoms += Atoms("H", positions=[centre + (radius + 1.3) * direction])
        else:
            oxygen = centre + (radius + 1.6) * direction
            atoms += Atoms("O", positions=[oxygen])
            if kind == "OH":
                atoms += Atoms("H", positions=[oxygen + 0.97 * direction])
    if n_water:
        atoms = add_waters(atoms, n_water, seed=int(rng.integers(1 << 31)))
    atoms.center(vacuum=6.0)
    return atoms


def water_cluster(n: int, rng: np.random.Generator) -> Atoms:
    """``n`` water molecules around a first one, O-O about 2.8 A."""
    first = molecule("H2O")
    return (
        first if n == 1 else add_waters(first, n - 1, seed=int(rng.integers(1 << 31)), distance=2.2)
    )


def build(recipe: SystemRecipe, rng: np.random.Generator) -> Atoms:
    """The starting structure of ``recipe``."""
    if recipe.molecule:
        atoms = molecule(recipe.molecule)
        atoms.center(vacuum=6.0)
        return atoms
    if not recipe.metals:
        atoms = water_cluster(recipe.n_water, rng)
        atoms.center(vacuum=6.0)
        return atoms
    atoms = metal_cluster(recipe.metals, rng)
    if recipe.adsorbates:
        atoms = add_adsorbates(atoms, recipe.adsorbates, rng)
    if recipe.n_water:
        atoms = add_waters(atoms, recipe.n_water, seed=int(rng.integers(1 << 31)))
    return atoms


def cluster_recipe(
    metals: tuple[str, ...], with_adsorbates: bool, rng: np.random.Generator
) -> SystemRecipe:
    """The cluster of ``metals``, with 1-2 random adsorbates when asked, named by its formula."""
    adsorbates: tuple[str, ...] = ()
    if with_adsorbates:
        adsorbates = tuple(str(a) for a in rng.choice(ADSORBATES, size=int(rng.integers(1, 3))))
    label = "".join(f"{s}{metals.count(s)}" for s in sorted(set(metals)))
    return SystemRecipe(
        f"{label}{'+' + '+'.join(adsorbates) if adsorbates else ''}", metals, adsorbates
    )


def broad_recipes(n_clusters: int, rng: np.random.Generator) -> list[SystemRecipe]:
    """The pretraining systems: ``n_clusters`` metal clusters (pure and alloys, 4-13 atoms,
    half with adsorbates), every small molecule, and water clusters of 1-4 molecules."""
    recipes = []
    for k in range(n_clusters):
        size = int(rng.integers(4, 14))
        kinds = rng.choice(METALS, size=int(rng.integers(1, 3)), replace=False)
        metals = tuple(str(s) for s in rng.choice(kinds, size=size))
        recipes.append(cluster_recipe(metals, bool(k % 2), rng))
    recipes += [SystemRecipe(name, molecule=name) for name in MOLECULES]
    recipes += [SystemRecipe(f"(H2O){n}", n_water=n) for n in range(2, 5)]
    return recipes


def cu_au_recipes(n_clusters: int, rng: np.random.Generator) -> list[SystemRecipe]:
    """``n_clusters`` Cu-Au alloy clusters (4-13 atoms, each element at least once, half
    with adsorbates): the broad set's share of structures with both Cu and Au, which the
    study's third pretraining subset (structures that contain both) is made of."""
    recipes = []
    for k in range(n_clusters):
        size = int(rng.integers(4, 14))
        metals = ("Cu", "Au", *(str(s) for s in rng.choice(("Cu", "Au"), size=size - 2)))
        recipes.append(cluster_recipe(metals, bool(k % 2), rng))
    return recipes


CU7AU6 = ("Cu",) * 7 + ("Au",) * 6


def target_recipe(n_water: int) -> SystemRecipe:
    """A Cu7Au6 icosahedron with ``n_water`` waters (1: the fine-tuning set; 6: the MD check)."""
    return SystemRecipe(f"Cu7Au6+{n_water}H2O", CU7AU6, n_water=n_water)
