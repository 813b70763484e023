"""A training run as data: :class:`TrainConfig`, validated from YAML or a dict by :func:`make_config`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ase.data import atomic_numbers

from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.data.isolated_atoms import ReferencesError, read_element_energies
from lightning_modules.errors import PesweepError
from lightning_modules.models.registry import check_model_config, model_settings
from lightning_modules.training.task import check_training_choices
from lightning_modules.yaml_numbers import load_yaml


class ConfigError(PesweepError):
    """A training configuration that cannot run; the message names the key and the fix."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs. Units: cutoff in Angstrom, energies in eV.

    ``model_config`` holds the model's hyperparameters, the fields of its
    :class:`~lightning_modules.models.potential.ModelSettings` (e.g. SchNet's
    ``n_atom_basis``); the cutoff of those settings is also the neighbour-list cutoff.
    """

    data: tuple[str, ...] = ()
    energy_unit: str = DEFAULT_ENERGY_UNIT
    model: str = "schnet"
    model_config: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "adam"
    lr: float = 5e-4
    weight_decay: float = 0.0
    alpha: float = 0.0
    # the force weight of val_loss and test_loss (what ranks runs); None: alpha
    ranking_alpha: float | None = None
    batch_size: int = 32
    max_epochs: int = 50
    seed: int = 0
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    drop_flagged: bool = False  # drop labels beyond the audit's physical bound
    keep_flagged_in_test: bool = False  # ...from training and validation only: test on all
    drop_outliers: bool = False  # also drop the robust outliers within it
    bound_ev_per_atom: float = 5.0
    force_fraction: float = 1.0
    element_energies: dict[str, float] = field(default_factory=dict)  # eV by symbol; or a file
    element_energies_source: str = ""  # the references file they were read from, if any
    init_from: str = ""  # a checkpoint file to start from (architecture from it)
    init_from_label: str = ""  # its name in the lineage (registered NAME/VERSION)
    strategy: str = "full"  # what to freeze when starting from init_from
    early_stopping_patience: int = 0
    lr_patience: int = 10
    lr_schedule: str = "plateau"  # or "cosine": anneal to zero over max_epochs
    loss: str = "rmse"  # or "mae": the mean absolute error in place of the RMSE
    gradient_clip: float = 0.0
    dtype: str = "float32"
    accelerator: str = "auto"
    output_dir: str = "pesweep_runs/train"
    progress_bar: bool = True

    @property
    def cutoff(self) -> float:
        """The model's neighbour-list cutoff (Angstrom)."""
        return model_settings(self.model, self.model_config).cutoff

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["data"] = list(self.data)
        values["split"] = list(self.split)
        return values


def element_energies_file(source: str | Path) -> dict[str, Any]:
    """The config values of a ``pesweep references`` file: its energies and where they came from."""
    try:
        energies = read_element_energies(source)
    except ReferencesError as error:
        raise ConfigError(f"element_energies: {error}") from error
    return {"element_energies": energies, "element_energies_source": str(Path(source).resolve())}


def _number(name: str, value: Any, kind: type) -> Any:
    """``value`` as an int or float setting ``name``, or a ConfigError naming the key."""
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(value)
        number = float(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be a number, got {value!r}; write e.g. {name}: 0.001"
        ) from None
    if kind is int:
        if not number.is_integer():
            raise ConfigError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


def _numbers(values: dict[str, Any]) -> dict[str, Any]:
    """Every int and float setting (and the split) read as a number (``'1e-3'`` from YAML 1.1 too)."""
    numeric = {
        f.name: type(f.default)
        for f in dataclasses.fields(TrainConfig)
        if type(f.default) in (int, float)
    }
    values = {
        name: _number(name, value, numeric[name])
        if name in numeric and value is not None
        else value
        for name, value in values.items()
    }
    if "split" in values:
        split = values["split"]
        if not isinstance(split, (list, tuple)) or len(split) != 3:
            raise ConfigError(f"split must be three fractions (train, val, test), got {split!r}")
        values["split"] = tuple(_number("split", x, float) for x in split)
    return values


def make_config(values: dict[str, Any]) -> TrainConfig:
    """Validate a plain dict (e.g. from YAML) into a :class:`TrainConfig`; one error per problem."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(unknown)}; valid keys are {', '.join(sorted(known))}"
        )
    values = dict(values)
    if isinstance(values.get("data"), (str, Path)):
        values["data"] = (str(values["data"]),)
    if "data" in values:
        values["data"] = tuple(str(path) for path in values["data"])
    values = _numbers(values)
    if isinstance(values.get("element_energies"), (str, Path)):  # a `pesweep references` file
        values.update(element_energies_file(values["element_energies"]))
    config = TrainConfig(**values)
    try:
        check_model_config(config.model, config.model_config)
    except ValueError as error:
        raise ConfigError(f"model_config: {error}") from error
    unknown_elements = [s for s in config.element_energies if s not in atomic_numbers]
    if unknown_elements:
        raise ConfigError(f"element_energies: unknown element(s) {', '.join(unknown_elements)}")
    try:
        check_training_choices(
            config.optimizer, config.lr_schedule, config.alpha, config.loss, config.ranking_alpha
        )
    except ValueError as error:
        raise ConfigError(str(error)) from error
    if config.keep_flagged_in_test and not config.drop_flagged:
        raise ConfigError(
            "keep_flagged_in_test (--keep-flagged-in-test) keeps in the test split what "
            "drop_flagged drops from the others; set drop_flagged: true (--drop-flagged) as well"
        )
    for name in ("lr", "batch_size", "max_epochs"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(config, name)}")
    return config


def config_from_record(record: dict[str, Any], **changes: Any) -> TrainConfig:
    """A config from one recorded in a checkpoint, with ``changes`` applied and validated.

    Keys this version of TrainConfig does not know (an older or newer record) are dropped.
    """
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return make_config({**{k: v for k, v in record.items() if k in known}, **changes})


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config file, apply ``overrides`` (e.g. command-line flags), validate."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        values = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return make_config(values)
