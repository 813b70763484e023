"""The model registry: names used in configs and search spaces -> model classes."""

from __future__ import annotations

import inspect
from typing import Any

from lightning_modules.models.aenet import AenetPotential
from lightning_modules.models.potential import Potential
from lightning_modules.models.schnet import SchNet

MODELS: dict[str, type[Potential]] = {
    "schnet": SchNet,
    "aenet": AenetPotential,
}


def model_parameters(name: str) -> set[str]:
    """Keyword arguments the model ``name`` accepts."""
    return set(inspect.signature(model_class(name).__init__).parameters) - {"self"}


def model_class(name: str) -> type[Potential]:
    """The class registered as ``name``; a clear error for unknown names."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


def check_model_config(name: str, config: dict[str, Any]) -> None:
    """Raise ValueError naming any key that model ``name`` does not take."""
    unknown = set(config) - model_parameters(name)
    if unknown:
        raise ValueError(
            f"model {name!r} takes no parameter(s) {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(sorted(model_parameters(name)))}"
        )


def build_model(name: str, config: dict[str, Any]) -> Potential:
    """Build model ``name`` from its keyword arguments, rejecting unknown keys by name."""
    check_model_config(name, config)
    return model_class(name)(**config)
