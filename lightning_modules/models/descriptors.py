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


def chebyshev_derivatives(x: torch.Tensor, order: int) -> torch.Tensor:
    """dT_n/dx = n U_{n-1}(x) for n = 0..order, [*x.shape, order + 1] (U: second kind)."""
    second_kind = [torch.ones_like(x), 2.0 * x]
    for _ in range(2, order):
        second_kind.append(2.0 * x * second_kind[-1] - second_kind[-2])
    terms = [torch.zeros_like(x)] + [n * second_kind[n - 1] for n in range(1, order + 1)]
    return torch.stack(terms, dim=-1)


def _cosine_cutoff_derivative(distances: torch.Tensor, cutoff: float) -> torch.Tensor:
    inside = (distances < cutoff).to(distances.dtype)
    return -0.5 * math.pi / cutoff * torch.sin(math.pi * distances / cutoff) * inside


def chebyshev_descriptor_jacobian(
    vectors: torch.Tensor,
    idx_i: torch.Tensor,
    idx_j: torch.Tensor,
    spins_j: torch.Tensor,
    n_atoms: int,
    settings: ChebyshevSettings,
) -> torch.Tensor:
    """Analytic dG_i/dR_k of one structure, [n_atoms, n_atoms, length, 3] (1/Angstrom units of G).

    Periodic images of atom k add up on k. Same inputs as :func:`chebyshev_descriptor`;
    checked against autograd in the tests.

    Every term of G_i is a function of pair vectors r_ij = R_j - R_i (+ shift),
    so dG_i/dR_j = g_ij and dG_i/dR_i = -sum_j g_ij, with g_ij = dG_i/dr_ij.
    The angular terms' gradients are first summed onto their pairs (a triplet
    holds two pairs of the same centre), then pairs go into the matrix once.
    """
    weighted = len(settings.species) > 1
    distances = torch.linalg.vector_norm(vectors, dim=-1)
    units = vectors / distances[:, None]
    cutoff_r = settings.radial_cutoff
    x = 2.0 * distances / cutoff_r - 1.0
    d_radial = _cosine_cutoff_derivative(distances, cutoff_r)[:, None] * chebyshev_polynomials(
        x, settings.radial_order
    ) + cosine_cutoff(distances, cutoff_r)[:, None] * chebyshev_derivatives(
        x, settings.radial_order
    ) * (2.0 / cutoff_r)
    radial = d_radial[:, :, None] * units[:, None, :]  # [n_pairs, N_r + 1, 3] d/dr_ij
    angular, weighted_angular = _angular_pair_gradients(
        vectors, distances, idx_i, spins_j, settings
    )
    parts = [radial, angular]
    if weighted:
        parts += [radial * spins_j[:, None, None], weighted_angular]
    pair_gradient = torch.cat(parts, dim=1)  # [n_pairs, length, 3]

    jacobian = torch.zeros(
        n_atoms * n_atoms, settings.length, 3, dtype=vectors.dtype, device=vectors.device
    )
    jacobian.index_add_(0, idx_i * n_atoms + idx_j, pair_gradient)
    on_centre = scatter_sum(pair_gradient, idx_i, n_atoms)  # [n_atoms, length, 3]
    diagonal = torch.arange(n_atoms, device=vectors.device) * (n_atoms + 1)
    jacobian.index_add_(0, diagonal, -on_centre)
    return jacobian.view(n_atoms, n_atoms, settings.length, 3)


def _angular_pair_gradients(
    vectors: torch.Tensor,
    distances: torch.Tensor,
    idx_i: torch.Tensor,
    spins_j: torch.Tensor,
    settings: ChebyshevSettings,
) -> tuple[torch.Tensor, torch.Tensor]:
    """d(angular G_i)/dr_ij summed per pair, plain and spin-weighted: two [n_pairs, N_a + 1, 3]."""
    n_angular = settings.angular_order + 1
    angular = vectors.new_zeros(vectors.shape[0], n_angular, 3)
    weighted = vectors.new_zeros(vectors.shape[0], n_angular, 3)
    p, q = angular_triplets(idx_i, distances < settings.angular_cutoff)
    if p.numel() == 0:
        return angular, weighted
    a, b = vectors[p], vectors[q]
    da, db = distances[p], distances[q]
    cos_theta = ((a * b).sum(-1) / (da * db)).clamp(-1.0, 1.0)
    cutoff_a = settings.angular_cutoff
    fa, fb = cosine_cutoff(da, cutoff_a), cosine_cutoff(db, cutoff_a)
    dfa, dfb = _cosine_cutoff_derivative(da, cutoff_a), _cosine_cutoff_derivative(db, cutoff_a)
    t = chebyshev_polynomials(cos_theta, settings.angular_order)  # [n_triplets, N_a + 1]
    dt = chebyshev_derivatives(cos_theta, settings.angular_order)
    fab = (fa * fb)[:, None]
    # d/da of f(a) f(b) T(cos): T (f'(a) f(b) a/|a|) + T' (f(a) f(b) dcos/da); the same for b
    along_a = (dfa * fb / da)[:, None] * a
    along_b = (fa * dfb / db)[:, None] * b
    dcos_da = fab * (b / (da * db)[:, None] - cos_theta[:, None] * a / (da**2)[:, None])
    dcos_db = fab * (a / (da * db)[:, None] - cos_theta[:, None] * b / (db**2)[:, None])
    grad_a = t[:, :, None] * along_a[:, None, :]
    grad_a.addcmul_(dt[:, :, None], dcos_da[:, None, :])  # [n_triplets, N_a + 1, 3]
    grad_b = t[:, :, None] * along_b[:, None, :]
    grad_b.addcmul_(dt[:, :, None], dcos_db[:, None, :])
    angular.index_add_(0, p, grad_a)
    angular.index_add_(0, q, grad_b)
    if len(settings.species) > 1:
        # weighted by s_j s_k: the partner's spin per triplet, the pair's own after the sum
        weighted.index_add_(0, p, grad_a * spins_j[q][:, None, None])
        weighted.index_add_(0, q, grad_b * spins_j[p][:, None, None])
        weighted *= spins_j[:, None, None]
    return angular, weighted
