"""Pure functions that say whether a configuration has left physical behaviour.

All take atomic numbers and positions (Angstrom) of a finite cluster; each
returns ``None`` when the configuration is fine, else a one-line reason.
Thresholds scale with the sum of covalent radii (``ase.data.covalent_radii``),
so one rule serves every element pair: with the default fraction 0.75 an Au-O
pair fails below 1.52 A (the ænet study's scratch model reached 1.07 A), an
O-H pair below 0.73 A.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from ase.data import chemical_symbols, covalent_radii

if TYPE_CHECKING:
    from lightning_modules.md.spec import MDSpec

# elements whose X-H bonds make molecules (water, hydroxyl, C-H, N-H): a broken one fails
MOLECULE_FORMERS = frozenset({1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 34, 35, 53})
HYDROGEN = 1


def pair_distances(positions: np.ndarray) -> np.ndarray:
    """The (n, n) matrix of interatomic distances."""
    delta = positions[:, None, :] - positions[None, :, :]
    return np.sqrt((delta**2).sum(-1))


def covalent_sums(numbers: np.ndarray) -> np.ndarray:
    """The (n, n) matrix of covalent-radius sums."""
    radii = covalent_radii[numbers]
    return radii[:, None] + radii[None, :]


def _pair_name(numbers: np.ndarray, i: int, j: int) -> str:
    return f"{chemical_symbols[numbers[i]]}{i}-{chemical_symbols[numbers[j]]}{j}"


def close_contact(numbers: np.ndarray, positions: np.ndarray, fraction: float) -> str | None:
    """The closest pair relative to its covalent sum, when closer than ``fraction`` of it."""
    distances = pair_distances(positions)
    ratio = distances / covalent_sums(numbers)
    np.fill_diagonal(ratio, np.inf)
    i, j = (int(k) for k in np.unravel_index(int(np.argmin(ratio)), ratio.shape))
    if ratio[i, j] >= fraction:
        return None
    limit = fraction * covalent_sums(numbers)[i, j]
    return (
        f"close contact {_pair_name(numbers, min(i, j), max(i, j))} at {distances[i, j]:.2f} A "
        f"(limit {limit:.2f} A)"
    )


def molecular_bonds(numbers: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(k, 2) index pairs of X-H bonds (X a molecule former) in the starting structure.

    A pair counts as bonded within 1.25 x its covalent sum (O-H up to 1.21 A).
    """
    distances = pair_distances(positions)
    bonded = distances < 1.25 * covalent_sums(numbers)
    hydrogen = numbers == HYDROGEN
    former = np.isin(numbers, list(MOLECULE_FORMERS))
    pairs = bonded & hydrogen[:, None] & former[None, :]
    np.fill_diagonal(pairs, False)
    found = np.argwhere(pairs)  # (H, partner)
    # one partner per hydrogen: its nearest molecule former
    bonds: dict[int, int] = {}
    for h, x in found:
        if h not in bonds or distances[h, x] < distances[h, bonds[h]]:
            bonds[int(h)] = int(x)
    return np.array(sorted((x, h) for h, x in bonds.items()), dtype=int).reshape(-1, 2)


def broken_bond(
    numbers: np.ndarray, positions: np.ndarray, bonds: np.ndarray, factor: float
) -> str | None:
    """The most stretched bond of ``bonds`` when longer than ``factor`` x its covalent sum."""
    if len(bonds) == 0:
        return None
    i, j = bonds[:, 0], bonds[:, 1]
    lengths = np.linalg.norm(positions[i] - positions[j], axis=1)
    limits = factor * (covalent_radii[numbers[i]] + covalent_radii[numbers[j]])
    worst = int(np.argmax(lengths / limits))
    if lengths[worst] <= limits[worst]:
        return None
    a, b = int(i[worst]), int(j[worst])
    return (
        f"bond {_pair_name(numbers, a, b)} broken at {lengths[worst]:.2f} A "
        f"(limit {limits[worst]:.2f} A)"
    )


def escaped_atom(numbers: np.ndarray, positions: np.ndarray, distance: float) -> str | None:
    """An atom with no neighbour within ``distance`` (it has left the cluster)."""
    if len(numbers) < 2:
        return None
    distances = pair_distances(positions)
    np.fill_diagonal(distances, np.inf)
    nearest = distances.min(axis=1)
    atom = int(np.argmax(nearest))
    if nearest[atom] <= distance:
        return None
    return (
        f"atom {chemical_symbols[numbers[atom]]}{atom} left the cluster (nearest neighbour "
        f"{nearest[atom]:.2f} A, limit {distance:.2f} A)"
    )


def too_hot(temperature: float, target: float, factor: float) -> str | None:
    """An instantaneous temperature above ``factor`` x the target."""
    if temperature <= factor * target:
        return None
    return f"temperature {temperature:.0f} K above {factor:g} x the target {target:g} K"


def not_finite(energy: float, forces: np.ndarray, positions: np.ndarray) -> str | None:
    """NaN or infinity in the energy, forces or positions."""
    if np.isfinite(energy) and np.isfinite(forces).all() and np.isfinite(positions).all():
        return None
    return "NaN or infinity in the energy, forces or positions"


def energy_drift(total_energy: float, start: float, n_atoms: int, limit: float) -> str | None:
    """Total energy (NVE) drifted more than ``limit`` eV per atom from the segment's start."""
    drift = abs(total_energy - start) / n_atoms
    if drift <= limit:
        return None
    return f"energy drift {1000 * drift:.1f} meV/atom in NVE (limit {1000 * limit:.1f} meV/atom)"


def configuration_failure(
    numbers: np.ndarray, positions: np.ndarray, bonds: np.ndarray, temperature: float, spec: MDSpec
) -> str | None:
    """The first of the structural and thermal criteria, in the check's order, that the
    configuration fails with ``spec``'s thresholds (None: it passes them all)."""
    return (
        close_contact(numbers, positions, spec.contact_fraction)
        or broken_bond(numbers, positions, bonds, spec.bond_break_factor)
        or escaped_atom(numbers, positions, spec.escape_distance)
        or too_hot(temperature, spec.temperature, spec.temperature_factor)
    )
