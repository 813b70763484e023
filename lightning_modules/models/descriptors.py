"""ænet's Chebyshev descriptor (Artrith, Urban and Ceder, Phys. Rev. B 96, 014112 (2017)).

For atom i and its neighbours j (periodic images included) within
max(Rc_r, Rc_a), with f_c the cosine cutoff and T_n Chebyshev polynomials:

    radial   G_n = sum_j f_c(d_ij; Rc_r) T_n(2 d_ij / Rc_r - 1),             n = 0..N_r
    angular  G_n = sum_{j<k} f_c(d_ij; Rc_a) f_c(d_ik; Rc_a) T_n(cos theta_ijk), n = 0..N_a

With more than one species a second copy follows in which each radial term
is weighted by the neighbour's type spin s_j and each angular term by
s_j s_k. Layout: [radial, angular, weighted radial, weighted angular], length
(N_r + N_a + 2), doubled for several species. Matches ænet's Fortran to 1e-10
(``../shared/data/aenet_descriptor_reference``).

Everything is a vectorised torch function of the pair vectors, so forces
follow by autograd; triplets (j < k around i) are built from the pair list by
index arithmetic, with no Python loop over atoms or pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lightning_modules.models.nn import cosine_cutoff, scatter_sum


@dataclass(frozen=True)
class ChebyshevSettings:
    """Descriptor settings; ``species`` are atomic numbers in ænet's ENV order (it matters)."""

    species: tuple[int, ...]
    radial_order: int
    radial_cutoff: float
    angular_order: int
    angular_cutoff: float

    @property
    def length(self) -> int:
        single = self.radial_order + self.angular_order + 2
        return single * (2 if len(self.species) > 1 else 1)

    @property
    def cutoff(self) -> float:
        return max(self.radial_cutoff, self.angular_cutoff)


def type_spins(n_species: int) -> list[float]:
    """ænet's type spins: start at trunc(-n/2), count up, skip 0 when n is even."""
    spins: list[float] = []
    value = math.trunc(-n_species / 2)
    while len(spins) < n_species:
        if not (value == 0 and n_species % 2 == 0):
            spins.append(float(value))
        value += 1
    return spins


def chebyshev_polynomials(x: torch.Tensor, order: int) -> torch.Tensor:
    """T_0..T_order of the first kind at x, by recurrence; shape [*x.shape, order + 1]."""
    terms = [torch.ones_like(x), x]
    for _ in range(2, order + 1):
        terms.append(2.0 * x * terms[-1] - terms[-2])
    return torch.stack(terms[: order + 1], dim=-1)


def angular_triplets(
    idx_i: torch.Tensor, within: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs of pair indices (p, q), p before q, sharing the central atom, both ``within``.

    Each unordered pair of neighbours {j, k} of an atom appears exactly once.
    """
    candidates = torch.nonzero(within).flatten()  # pair indices inside the angular cutoff
    centres = idx_i[candidates]
    order = torch.argsort(centres, stable=True)
    candidates, centres = candidates[order], centres[order]
    n = candidates.shape[0]
    if n < 2:
        empty = torch.zeros(0, dtype=torch.long, device=idx_i.device)
        return empty, empty
    counts = torch.bincount(centres)
    group_start = torch.cumsum(counts, 0) - counts  # [n_atoms]
    position = torch.arange(n, device=idx_i.device)
    rank = position - group_start[centres]
    partners = counts[centres] - rank - 1  # later neighbours of the same centre
    first = torch.repeat_interleave(position, partners)
    partner_start = torch.cumsum(partners, 0) - partners
    offset = torch.arange(first.shape[0], device=idx_i.device) - torch.repeat_interleave(
        partner_start, partners
    )
    second = first + offset + 1
    return candidates[first], candidates[second]


def chebyshev_descriptor(
    vectors: torch.Tensor,
    idx_i: torch.Tensor,
    spins_j: torch.Tensor,
    n_atoms: int,
    settings: ChebyshevSettings,
) -> torch.Tensor:
    """Descriptor of every atom, [n_atoms, settings.length].

    ``vectors`` [n_pairs, 3] Angstrom from atom idx_i to its neighbour (full
    pair list within ``settings.cutoff``); ``spins_j`` [n_pairs] the type spin
    of each neighbour.
    """
    distances = torch.linalg.vector_norm(vectors, dim=-1)  # [n_pairs]
    radial_x = 2.0 * distances / settings.radial_cutoff - 1.0
    radial_terms = cosine_cutoff(distances, settings.radial_cutoff)[:, None] * (
        chebyshev_polynomials(radial_x, settings.radial_order)
    )  # [n_pairs, N_r + 1]
    radial = scatter_sum(radial_terms, idx_i, n_atoms)
    p, q = angular_triplets(idx_i, distances < settings.angular_cutoff)
    cos_theta = (vectors[p] * vectors[q]).sum(-1) / (distances[p] * distances[q])
    cos_theta = cos_theta.clamp(-1.0, 1.0)
    fc_angular = cosine_cutoff(distances, settings.angular_cutoff)
    angular_terms = (fc_angular[p] * fc_angular[q])[:, None] * chebyshev_polynomials(
        cos_theta, settings.angular_order
    )  # [n_triplets, N_a + 1]
    centres = idx_i[p]
    angular = scatter_sum(angular_terms, centres, n_atoms)
    parts = [radial, angular]
    if len(settings.species) > 1:
        parts.append(scatter_sum(radial_terms * spins_j[:, None], idx_i, n_atoms))
        parts.append(
            scatter_sum(angular_terms * (spins_j[p] * spins_j[q])[:, None], centres, n_atoms)
        )
    return torch.cat(parts, dim=-1)


class ChebyshevDescriptor(nn.Module):
    """Module form of :func:`chebyshev_descriptor`; keeps the spin of every atomic number."""

    spin_of_element: torch.Tensor  # buffer

    def __init__(self, settings: ChebyshevSettings) -> None:
        super().__init__()
        self.settings = settings
        spins = torch.zeros(119)
        for z, spin in zip(settings.species, type_spins(len(settings.species)), strict=False):
            spins[z] = spin
        self.register_buffer("spin_of_element", spins)

    @property
    def length(self) -> int:
        return self.settings.length

    def forward(
        self,
        numbers: torch.Tensor,
        vectors: torch.Tensor,
        idx_i: torch.Tensor,
        idx_j: torch.Tensor,
    ) -> torch.Tensor:
        spins_j = self.spin_of_element.to(vectors.dtype)[numbers[idx_j]]  # [n_pairs]
        return chebyshev_descriptor(vectors, idx_i, spins_j, numbers.shape[0], self.settings)
