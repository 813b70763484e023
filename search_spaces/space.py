"""Search spaces as data: YAML files in Optuna's short form, validated with one error per problem.

A space file::

    name: schnet_table1
    description: ...
    model: schnet                 # or a categorical parameter "model" below
    params:
      n_atom_basis: {type: categorical, choices: [32, 64, 128]}
      n_interactions: {type: int, low: 2, high: 10}
      lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
      attention: {type: categorical, choices: [true, false]}
      attention_heads: {type: int, low: 1, high: 4, condition: {attention: true}}
      batch_size: 32              # a bare value is fixed

Each parameter goes where its name belongs: a hyperparameter of the model
(a field of its :class:`~lightning_modules.models.potential.ModelSettings`, put in
``model_config``) or a key of :class:`~lightning_modules.training.config.TrainConfig`.
A ``condition`` samples the parameter only when earlier parameters have the
given values (e.g. attention heads only with attention on, aenet's
descriptor only for ``model: aenet``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from lightning_modules.errors import PesweepError
from lightning_modules.models.registry import MODELS, model_parameters
from lightning_modules.training.config import TrainConfig
from lightning_modules.training.task import check_training_choices
from lightning_modules.yaml_numbers import load_yaml

SPACES_DIR = Path(__file__).resolve().parent
KINDS = ("categorical", "int", "float", "fixed")
TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)} - {
    "data",
    "energy_unit",
    "model",
    "model_config",
    "output_dir",
    "progress_bar",
    "accelerator",
    "init_from",
}

# the training settings named by a word: each value a space may give them is checked
WORD_SETTINGS = ("optimizer", "lr_schedule", "loss")


class SpaceError(PesweepError):
    """A search space that is malformed or does not fit its model; one line, names the fix."""


@dataclass(frozen=True)
class Parameter:
    """One dimension of a search space: an Optuna distribution, or a fixed ``value``."""

    name: str
    distribution: BaseDistribution | None = None  # None: the parameter is fixed to ``value``
    value: Any = None
    condition: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space; ``source_text`` is the file content (recorded with studies)."""

    name: str
    description: str
    models: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    source_text: str

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)


def _integer_like(name: str, key: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpaceError(
            f"parameter {name!r}: {key} must be an integer for type int, got {value!r}"
        )


def _distribution(name: str, kind: str, spec: dict[str, Any]) -> BaseDistribution:
    """Optuna's own distribution for a spec; its checks (low <= high, log needs low > 0...)."""
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"parameter {name!r}: choices must be a non-empty list")
        if len({repr(c) for c in choices}) != len(choices):
            raise SpaceError(f"parameter {name!r}: choices contain duplicates")
        return CategoricalDistribution(choices)
    if "low" not in spec or "high" not in spec:
        raise SpaceError(f"parameter {name!r}: type {kind} needs low and high")
    low, high, step, log = spec["low"], spec["high"], spec.get("step"), bool(spec.get("log", False))
    if kind == "int":
        for key, value in (("low", low), ("high", high), ("step", step)):
            if value is not None:
                _integer_like(name, key, value)
    for key, value in (("low", low), ("high", high), ("step", step)):
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise SpaceError(f"parameter {name!r}: {key} must be a number, got {value!r}")
    try:
        if kind == "int":
            return IntDistribution(low, high, log=log, step=1 if step is None else step)
        return FloatDistribution(low, high, log=log, step=step)
    except ValueError as error:  # Optuna's message names the rule, e.g. `low <= high` must hold
        raise SpaceError(f"parameter {name!r}: {error}") from error


def parse_parameter(name: str, spec: Any) -> Parameter:
    """One parameter from its YAML spec (a mapping with ``type``, or a bare fixed value)."""
    if not isinstance(spec, dict):
        return Parameter(name=name, value=spec)
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in KINDS:
        raise SpaceError(
            f"parameter {name!r}: type must be one of {', '.join(KINDS)}, got {kind!r}"
        )
    condition = spec.pop("condition", {}) or {}
    if not isinstance(condition, dict):
        raise SpaceError(
            f"parameter {name!r}: condition must be a mapping like {{attention: true}}"
        )
    allowed = {
        "categorical": {"choices"},
        "int": {"low", "high", "step", "log"},
        "float": {"low", "high", "step", "log"},
        "fixed": {"value"},
    }[kind]
    unknown = set(spec) - allowed
    if unknown:
        raise SpaceError(
            f"parameter {name!r}: unknown key(s) {', '.join(sorted(unknown))} for type {kind}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    if kind == "fixed":
        return Parameter(name=name, value=spec.get("value"), condition=condition)
    return Parameter(name=name, distribution=_distribution(name, kind, spec), condition=condition)


def _check_targets(space: SearchSpace) -> None:
    """Every parameter must be taken by each model it can be sampled with, or be a train key."""
    names_so_far: set[str] = set()
    for parameter in space.parameters:
        for key in parameter.condition:
            if key not in names_so_far:
                raise SpaceError(
                    f"parameter {parameter.name!r}: its condition names {key!r}, which is not a "
                    f"parameter listed before it"
                )
        names_so_far.add(parameter.name)
        if parameter.name == "model":
            continue
        models = space.models
        if "model" in parameter.condition:
            wanted = parameter.condition["model"]
            models = tuple(wanted) if isinstance(wanted, list) else (wanted,)
        for model in models:
            if parameter.name not in model_parameters(model) and parameter.name not in TRAIN_KEYS:
                raise SpaceError(
                    f"parameter {parameter.name!r} is not taken by model {model!r} nor a training "
                    f"setting; model {model!r} takes {', '.join(sorted(model_parameters(model)))}"
                    + (
                        " (add condition: {model: ...} for a model-specific parameter)"
                        if len(space.models) > 1
                        else ""
                    )
                )


def _words(parameter: Parameter) -> tuple[Any, ...] | None:
    """The values a categorical or fixed parameter can take; None for a number range."""
    if parameter.distribution is None:
        return (parameter.value,)
    if isinstance(parameter.distribution, CategoricalDistribution):
        return tuple(parameter.distribution.choices)
    return None


def _check_word_settings(space: SearchSpace) -> None:
    """Every value a space gives the optimizer, the lr schedule or the loss is one they take."""
    for parameter in space.parameters:
        if parameter.name not in WORD_SETTINGS:
            continue
        values = _words(parameter)
        if values is None:
            raise SpaceError(f"parameter {parameter.name!r} is categorical or fixed, not a range")
        for value in values:
            try:
                check_training_choices(**{parameter.name: value})
            except ValueError as error:
                raise SpaceError(f"parameter {parameter.name!r}: {error}") from None


def parse_space(text: str, origin: str = "<text>") -> SearchSpace:
    """Validate the YAML text of a space file into a :class:`SearchSpace`."""
    try:
        document = load_yaml(text)
    except yaml.YAMLError as error:
        raise SpaceError(f"{origin}: not valid YAML ({str(error).splitlines()[0]})") from error
    if not isinstance(document, dict):
        raise SpaceError(f"{origin}: a space file is a mapping with 'params' (and 'model')")
    unknown = set(document) - {"name", "description", "model", "params"}
    if unknown:
        raise SpaceError(
            f"{origin}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
            f"use name, description, model, params"
        )
    params = document.get("params")
    if not isinstance(params, dict) or not params:
        raise SpaceError(f"{origin}: 'params' must be a non-empty mapping of parameter specs")
    try:
        parameters = tuple(parse_parameter(str(name), spec) for name, spec in params.items())
    except SpaceError as error:
        raise SpaceError(f"{origin}: {error}") from error
    model_spec = [p for p in parameters if p.name == "model"]
    if model_spec:
        if "model" in document:
            raise SpaceError(f"{origin}: give the model either at top level or as a parameter")
        named = _words(model_spec[0])
        if named is None:
            raise SpaceError(f"{origin}: 'model' is categorical or fixed, not a number range")
        models = named
    else:
        models = (document.get("model", "schnet"),)
    for model in models:
        if model not in MODELS:
            raise SpaceError(
                f"{origin}: unknown model {model!r}; registered models: {', '.join(sorted(MODELS))}"
            )
    space = SearchSpace(
        name=str(document.get("name") or Path(origin).stem),
        description=str(document.get("description", "")),
        models=tuple(str(model) for model in models),
        parameters=parameters,
        source_text=text,
    )
    try:
        _check_targets(space)
        _check_word_settings(space)
    except SpaceError as error:
        raise SpaceError(f"{origin}: {error}") from error
    return space


def shipped_spaces() -> dict[str, Path]:
    """Space files that ship with pesweep, by name (file stem)."""
    return {path.stem: path for path in sorted(SPACES_DIR.glob("*.yaml"))}


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A space from a file path or the name of a shipped space (e.g. ``schnet_table1``)."""
    path = Path(name_or_path)
    if not path.is_file():  # a folder of the same name (pesweep demo's workdir) is no space
        shipped = shipped_spaces()
        if str(name_or_path) in shipped:
            path = shipped[str(name_or_path)]
        else:
            raise SpaceError(
                f"{name_or_path}: no such space file nor shipped space; shipped: "
                f"{', '.join(shipped)}"
            )
    return parse_space(path.read_text(), origin=str(path))
