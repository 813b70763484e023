"""The model registry: names used in configs and search spaces -> model classes."""

from __future__ import annotations

from typing import Any

from lightning_modules.models.aenet import AenetPotential
from lightning_modules.models.potential import ModelSettings, Potential
from lightning_modules.models.schnet import SchNet

MODELS: dict[str, type[Potential]] = {
    "schnet": SchNet,
    "aenet": AenetPotential,
}


def model_parameters(name: str) -> set[str]:
    """Hyperparameter names the model ``name`` takes (its settings' fields)."""
    return model_class(name).settings_class.names()


def model_class(name: str) -> type[Potential]:
    """The class registered as ``name``; a clear error for unknown names."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


def model_settings(name: str, config: dict[str, Any]) -> ModelSettings:
    """The settings of model ``name`` from a config dict; ValueError naming any bad key."""
    try:
        return model_class(name).settings_class.from_config(config)
    except ValueError as error:
        raise ValueError(f"model {name!r} {error}") from error


def check_model_config(name: str, config: dict[str, Any]) -> None:
    """Raise ValueError naming any key that model ``name`` does not take."""
    model_settings(name, config)


def build_model(name: str, config: dict[str, Any]) -> Potential:
    """Build model ``name`` from its hyperparameters, rejecting unknown keys by name."""
    return model_class(name)(model_settings(name, config))
