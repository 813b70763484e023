"""Activation functions, including the smooth maximum unit (SMU) of SchNet_IIA."""

from __future__ import annotations

import math

import torch
from torch import nn


def shifted_softplus(x: torch.Tensor) -> torch.Tensor:
    """SchNet's activation ln(1 + e^x) - ln 2 (zero at the origin)."""
    # in place: softplus's gradient reads its input, not its output
    return nn.functional.softplus(x).sub_(math.log(2.0))


def smooth_maximum_unit(x: torch.Tensor, alpha: float, mu: float | torch.Tensor) -> torch.Tensor:
    """Smooth maximum unit f(x) = ((1+a) x + (1-a) x erf(mu (1-a) x)) / 2.

    A smooth approximation of the leaky ReLU max(x, a x) (Biswas et al. 2022),
    used by SchNet_IIA with a = 0.01 and mu = 2.5.
    """
    return 0.5 * ((1.0 + alpha) * x + (1.0 - alpha) * x * torch.erf(mu * (1.0 - alpha) * x))


class ShiftedSoftplus(nn.Module):
    """Module form of :func:`shifted_softplus`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shifted_softplus(x)


class SmoothMaximumUnit(nn.Module):
    """Module form of :func:`smooth_maximum_unit`; ``mu`` is a parameter when learnable."""

    mu: torch.Tensor  # buffer

    def __init__(self, alpha: float = 0.01, mu: float = 2.5, learnable_mu: bool = False) -> None:
        super().__init__()
        self.alpha = float(alpha)
        mu_tensor = torch.tensor(float(mu))
        if learnable_mu:
            self.mu = nn.Parameter(mu_tensor)
        else:
            self.register_buffer("mu", mu_tensor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return smooth_maximum_unit(x, self.alpha, self.mu.to(x.dtype))


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "shifted_softplus": ShiftedSoftplus,
    "smu": SmoothMaximumUnit,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "linear": nn.Identity,
    "silu": nn.SiLU,
}


def build_activation(name: str, **kwargs: float | bool) -> nn.Module:
    """Build an activation by its name in :data:`ACTIVATIONS` (``smu`` takes alpha/mu/learnable_mu)."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}"
        )
    return ACTIVATIONS[name](**kwargs)
