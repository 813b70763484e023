"""Core repulsion: the ZBL screened nuclear repulsion where two atoms come closer than bonded.

A network fitted to thermal data has seen no pair of atoms much closer than a
bond, and what it predicts there is an extrapolation: a water's hydrogen may
find a hole next to a metal atom and fall into it. The Ziegler-Biersack-
Littmark (ZBL) universal screened Coulomb repulsion,

    E_ij = k Z_i Z_j / r * phi(r / a),   a = 0.46850 / (Z_i^0.23 + Z_j^0.23)   (Angstrom)
    phi(x) = 0.18175 e^(-3.19980 x) + 0.50986 e^(-0.94229 x)
           + 0.28022 e^(-0.40290 x) + 0.02817 e^(-0.20162 x)

(k = e^2 / 4 pi eps0 = 14.399645 eV A), is the usual floor under such holes
(NequIP, Allegro and MACE add it as a pair term). Here it is switched on only
below ``onset`` times the sum of the two covalent radii (ASE's), by a cosine
from nothing at ``onset`` to all of it at ``onset - 0.2``; with ``onset`` at
or below the closest pairs of the training data it adds nothing to any
training structure and changes the model only where no data were.
"""

from __future__ import annotations

import math

import torch
from ase.data import covalent_radii
from torch import nn

COULOMB_EV_ANGSTROM = 14.399645  # e^2 / (4 pi eps0)
ZBL_COEFFICIENTS = (0.18175, 0.50986, 0.28022, 0.02817)
ZBL_EXPONENTS = (3.19980, 0.94229, 0.40290, 0.20162)
ZBL_LENGTH = 0.46850  # Angstrom
SWITCH_WIDTH = 0.2  # in covalent radii sums: all of ZBL at onset - 0.2


def zbl_energy(distances: torch.Tensor, z_i: torch.Tensor, z_j: torch.Tensor) -> torch.Tensor:
    """ZBL pair energies (eV) at ``distances`` (Angstrom) of atoms with atomic numbers z_i, z_j."""
    charge_i, charge_j = z_i.to(distances.dtype), z_j.to(distances.dtype)
    screening_length = ZBL_LENGTH / (charge_i**0.23 + charge_j**0.23)
    x = distances / screening_length
    screening = sum(
        c * torch.exp(-b * x) for c, b in zip(ZBL_COEFFICIENTS, ZBL_EXPONENTS, strict=True)
    )
    return COULOMB_EV_ANGSTROM * charge_i * charge_j / distances * screening


def onset_switch(distances: torch.Tensor, inner: torch.Tensor, outer: torch.Tensor) -> torch.Tensor:
    """1 below ``inner``, 0 above ``outer``, a cosine between (value and slope continuous)."""
    share = ((distances - inner) / (outer - inner)).clamp(0.0, 1.0)
    return 0.5 * (torch.cos(math.pi * share) + 1.0)


def check_onset(onset: float) -> None:
    """Raise ValueError unless ``onset`` is 0 (no repulsion) or in (0.2, 3] covalent radii sums."""
    if onset != 0 and not SWITCH_WIDTH < onset <= 3.0:
        raise ValueError(
            f"core_repulsion={onset} is not an onset in covalent radii sums: "
            f"use 0 (none) or a value in ({SWITCH_WIDTH}, 3], e.g. 0.8"
        )


class CoreRepulsion(nn.Module):
    """Switched ZBL repulsion per pair; ``onset`` in sums of covalent radii (> 0.2)."""

    radii: torch.Tensor  # buffer, covalent radius (Angstrom) by atomic number

    def __init__(self, onset: float) -> None:
        super().__init__()
        check_onset(onset)
        self.onset = float(onset)
        self.register_buffer(
            "radii", torch.tensor(covalent_radii, dtype=torch.float64), persistent=False
        )  # not in checkpoints: ASE's table, the same with or without the repulsion

    def forward(
        self, distances: torch.Tensor, z_i: torch.Tensor, z_j: torch.Tensor
    ) -> torch.Tensor:
        """Pair energies (eV) [n_pairs]; zero beyond the onset."""
        bonded = (self.radii[z_i] + self.radii[z_j]).to(distances.dtype)
        outer = self.onset * bonded
        switch = onset_switch(distances, outer - SWITCH_WIDTH * bonded, outer)
        return zbl_energy(distances, z_i, z_j) * switch
