"""Radial basis expansions of interatomic distances."""

from __future__ import annotations

import math

import torch
from torch import nn


def gaussian_rbf(
    distances: torch.Tensor, centers: torch.Tensor, widths: torch.Tensor
) -> torch.Tensor:
    """Gaussians exp(-(r - mu_k)^2 / (2 sigma_k^2)) of distances (Angstrom).

    Returns ``[n_pairs, n_rbf]`` for ``distances`` of shape ``[n_pairs]``.

    Values below eps**2 of the dtype (1.4e-14 in float32: Gaussians more than
    8 widths from the distance) are returned as exactly zero: they change the
    expansion by less than its own rounding, since the nearest Gaussian of any
    distance in range is at least 0.88. Kept, they and their products with
    weights fall into subnormal numbers, and every matrix product that reads
    them, forwards and backwards, runs several times slower on CPUs without
    fast subnormal arithmetic (a SchNet training step 2.5x slower, measured
    on a Xeon here).
    """
    diff = distances[:, None] - centers[None, :]  # [n_pairs, n_rbf]
    exponent = -0.5 * (diff / widths[None, :]) ** 2
    floor = 2.0 * math.log(torch.finfo(exponent.dtype).eps)  # log(eps**2)
    # exp of the clamped exponent: an exponent far below the floor takes exp's slow
    # underflow path (40x slower per element on this Xeon) and would be zeroed anyway
    expanded = torch.exp(exponent.clamp(min=floor))
    return expanded.masked_fill(exponent < floor, 0.0)


class GaussianRBF(nn.Module):
    """``n_rbf`` Gaussians with centres evenly spaced on [0, cutoff] (SchNet's expansion).

    The width of each Gaussian is the spacing between centres, as in schnetpack.
    """

    centers: torch.Tensor  # buffer
    widths: torch.Tensor  # buffer

    def __init__(self, n_rbf: int, cutoff: float) -> None:
        super().__init__()
        if n_rbf < 2:
            raise ValueError(f"n_rbf must be at least 2, got {n_rbf}")
        centers = torch.linspace(0.0, float(cutoff), n_rbf)
        widths = torch.full_like(centers, float(centers[1] - centers[0]))
        self.register_buffer("centers", centers)
        self.register_buffer("widths", widths)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        return gaussian_rbf(
            distances, self.centers.to(distances.dtype), self.widths.to(distances.dtype)
        )
