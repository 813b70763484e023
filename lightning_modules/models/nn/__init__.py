"""Neural-network building blocks: cutoffs, radial bases, activations, scatter ops, initialisation."""

from __future__ import annotations

from lightning_modules.models.nn.activations import (
    ACTIVATIONS,
    ShiftedSoftplus,
    SmoothMaximumUnit,
    build_activation,
    shifted_softplus,
    smooth_maximum_unit,
)
from lightning_modules.models.nn.cutoffs import CosineCutoff, cosine_cutoff
from lightning_modules.models.nn.initialisation import dense_layers_like_schnetpack_
from lightning_modules.models.nn.radial import GaussianRBF, gaussian_rbf
from lightning_modules.models.nn.scatter import scatter_softmax, scatter_sum

__all__ = [
    "ACTIVATIONS",
    "CosineCutoff",
    "GaussianRBF",
    "ShiftedSoftplus",
    "SmoothMaximumUnit",
    "build_activation",
    "cosine_cutoff",
    "dense_layers_like_schnetpack_",
    "gaussian_rbf",
    "scatter_softmax",
    "scatter_sum",
    "shifted_softplus",
    "smooth_maximum_unit",
]
