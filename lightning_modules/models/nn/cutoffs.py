"""Smooth cutoff functions."""

from __future__ import annotations

import math

import torch
from torch import nn


def cosine_cutoff(distances: torch.Tensor, cutoff: float | torch.Tensor) -> torch.Tensor:
    """Behler's cosine cutoff f(r) = 0.5 (cos(pi r / r_c) + 1) for r < r_c, else 0.

    ``distances`` and ``cutoff`` in Angstrom; the result is dimensionless.
    """
    values = 0.5 * (torch.cos(distances * math.pi / cutoff) + 1.0)
    return values * (distances < cutoff).to(distances.dtype)


class CosineCutoff(nn.Module):
    """Module form of :func:`cosine_cutoff`, the cutoff (Angstrom) kept as a buffer."""

    cutoff: torch.Tensor  # buffer

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.register_buffer("cutoff", torch.tensor(float(cutoff)))

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        return cosine_cutoff(distances, self.cutoff.to(distances.dtype))
