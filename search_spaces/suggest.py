"""Sampling a :class:`SearchSpace` with Optuna, and turning samples into a training config.

Merge order of a trial's configuration: defaults < fixed values of the space
< sampled values < command line (``overrides``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from lightning_modules.models.registry import model_parameters
from lightning_modules.training.config import TrainConfig, make_config
from search_spaces.space import Parameter, SearchSpace, SpaceError


def _condition_holds(parameter: Parameter, values: dict[str, Any]) -> bool:
    for key, wanted in parameter.condition.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if key not in values or values[key] not in allowed:
            return False
    return True


def suggest(trial: optuna.trial.BaseTrial, space: SearchSpace) -> dict[str, Any]:
    """Sample every parameter whose condition holds; fixed values are included as they are."""
    values: dict[str, Any] = {}
    for parameter in space.parameters:
        if not _condition_holds(parameter, values):
            continue
        name, distribution = parameter.name, parameter.distribution
        if distribution is None:
            values[name] = parameter.value
        elif isinstance(distribution, CategoricalDistribution):
            values[name] = trial.suggest_categorical(name, distribution.choices)
        elif isinstance(distribution, IntDistribution):
            values[name] = trial.suggest_int(
                name,
                distribution.low,
                distribution.high,
                step=distribution.step,
                log=distribution.log,
            )
        else:
            assert isinstance(distribution, FloatDistribution)
            values[name] = trial.suggest_float(
                name,
                distribution.low,
                distribution.high,
                step=distribution.step,
                log=distribution.log,
            )
    return values


def grid(space: SearchSpace) -> dict[str, list[Any]]:
    """The search space of Optuna's GridSampler: every value of every sampled parameter.

    Floats need a ``step``; conditional parameters are gridded too (the
    sampler skips values a trial does not ask for).
    """
    result: dict[str, list[Any]] = {}
    for parameter in space.parameters:
        distribution = parameter.distribution
        if isinstance(distribution, CategoricalDistribution):
            result[parameter.name] = list(distribution.choices)
        elif isinstance(distribution, IntDistribution):
            result[parameter.name] = list(
                range(distribution.low, distribution.high + 1, distribution.step)
            )
        elif isinstance(distribution, FloatDistribution):
            if distribution.step is None:
                raise SpaceError(
                    f"grid search needs a step for float parameter {parameter.name!r}; "
                    f"add step: or use another sampler"
                )
            low, step = distribution.low, distribution.step
            count = round((distribution.high - low) / step) + 1  # Optuna puts high on the grid
            result[parameter.name] = [low + k * step for k in range(count)]
    return result


def grid_size(space: SearchSpace) -> int:
    """Number of points of the full grid (conditional parameters counted as always on)."""
    return math.prod(len(values) for values in grid(space).values())


def to_train_config(
    space: SearchSpace,
    values: dict[str, Any],
    base: TrainConfig,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """The training config of sampled ``values``: model kwargs to model_config, the rest on top.

    Starting from a pretrained model (``base.init_from``), the model is ``base``'s: the
    pretrained one's, whatever the space names.
    """
    model = values.get("model", base.model if base.init_from else space.models[0])
    model_keys = model_parameters(model)
    model_config = dict(base.model_config) if model == base.model else {}
    train_values: dict[str, Any] = {}
    for name, value in values.items():
        if name == "model":
            continue
        if name in model_keys:
            model_config[name] = value
        else:
            train_values[name] = value
    merged = dataclasses.asdict(base)
    merged.update(train_values)
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    merged["model"] = model
    merged["model_config"] = model_config
    return make_config(merged)
