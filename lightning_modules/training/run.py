"""One training run as data (:class:`TrainConfig`) and the function that runs it.

Used by ``pesweep train`` and by every trial of a sweep. A run writes into
its output directory: ``best.ckpt`` (the best validation epoch),
``split.npz`` (the split indices), ``config.yaml`` (the resolved config) and
``audit.json`` (the data audit).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import yaml
from ase.data import atomic_numbers, chemical_symbols
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from lightning_modules.conventions import MONITORED_METRIC
from lightning_modules.data.splits import save_split
from lightning_modules.errors import PesweepError
from lightning_modules.models.registry import (
    check_model_config,
    model_class,
    model_parameters,
)
from lightning_modules.training.datamodule import PotentialDataModule
from lightning_modules.training.prepared import DataSettings, PreparedData
from lightning_modules.training.pretrained import TransferError, task_from_pretrained
from lightning_modules.training.task import PotentialTask, check_training_choices

logger = logging.getLogger(__name__)


class ConfigError(PesweepError):
    """A training configuration that cannot run; the message names the key and the fix."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs. Units: cutoff in Angstrom, energies in eV.

    ``model_config`` holds the model's own keyword arguments (e.g. SchNet's
    ``n_atom_basis``); the cutoff of the model is also the neighbour-list cutoff.
    """

    data: tuple[str, ...] = ()
    energy_unit: str = "ev"
    model: str = "schnet"
    model_config: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "adam"
    lr: float = 5e-4
    weight_decay: float = 0.0
    alpha: float = 0.0
    batch_size: int = 32
    max_epochs: int = 50
    seed: int = 0
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    drop_flagged: bool = False
    bound_ev_per_atom: float = 5.0
    force_fraction: float = 1.0
    element_energies: dict[str, float] = field(default_factory=dict)
    init_from: str = ""  # a checkpoint file to start from (architecture from it)
    strategy: str = "full"  # what to freeze when starting from init_from
    early_stopping_patience: int = 0
    lr_patience: int = 10
    lr_schedule: str = "plateau"  # or "cosine": anneal to zero over max_epochs
    gradient_clip: float = 0.0
    dtype: str = "float32"
    accelerator: str = "auto"
    output_dir: str = "pesweep_runs/train"
    progress_bar: bool = True

    @property
    def cutoff(self) -> float:
        """The model's neighbour-list cutoff (Angstrom)."""
        return model_class(self.model).cutoff_from_config(self.model_config)

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["data"] = list(self.data)
        values["split"] = list(self.split)
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
    if "split" in values:
        values["split"] = tuple(float(x) for x in values["split"])
    config = TrainConfig(**values)
    try:
        check_model_config(config.model, config.model_config)
    except ValueError as error:
        raise ConfigError(f"model_config: {error}") from error
    unknown_elements = [s for s in config.element_energies if s not in atomic_numbers]
    if unknown_elements:
        raise ConfigError(f"element_energies: unknown element(s) {', '.join(unknown_elements)}")
    try:
        check_training_choices(config.optimizer, config.lr_schedule, config.alpha)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    for name in ("lr", "batch_size", "max_epochs"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(config, name)}")
    if not config.data:
        raise ConfigError("no data: set 'data' to one or more files (or pass --data PATH)")
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
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return make_config(values)


@dataclass
class TrainResult:
    """Outcome of :func:`train`: where the model is and how good it is."""

    checkpoint_path: str
    output_dir: str
    best_val: float
    test_metrics: dict[str, float]
    val_metrics: dict[str, float]
    n_parameters: int
    seconds: float
    epochs: int
    history: list[dict[str, float]]
    split: dict[str, list[int]] = field(default_factory=dict)


class EpochHistory(Callback):
    """Keeps every epoch's logged metrics (learning curves for reports and MLflow)."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        metrics["epoch"] = float(trainer.current_epoch)
        self.epochs.append(metrics)


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNonFinite(Callback):
    """Raise :class:`DivergenceError` as soon as the training loss is NaN or infinite."""

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss)):
            raise DivergenceError(
                f"training loss became {float(loss)} at epoch {trainer.current_epoch}, "
                f"batch {batch_idx}; lower the learning rate or check the data"
            )


def data_settings(config: TrainConfig) -> DataSettings:
    """How a config prepares its data (split, audit bound, references, forces)."""
    return DataSettings(
        split=config.split,
        seed=config.seed,
        drop_flagged=config.drop_flagged,
        bound_ev_per_atom=config.bound_ev_per_atom,
        force_fraction=config.force_fraction,
        element_energies=tuple(
            sorted((atomic_numbers[s], float(e)) for s, e in config.element_energies.items())
        ),
    )


def build_datamodule(config: TrainConfig, data: Any = None) -> PotentialDataModule:
    """The data module of a config; ``data`` replaces reading ``config.data``.

    ``data`` may be an :class:`AtomsData` or a :class:`PreparedData` made once for
    a study: prepared with the config's own data settings, it is used as it is
    (another split or force fraction prepares the same structures again, on the
    same cache of pairs and descriptors).
    """
    if isinstance(data, PreparedData):
        data = data.with_settings(data_settings(config))
    return PotentialDataModule(
        data=data if data is not None else list(config.data),
        energy_unit=config.energy_unit,
        cutoff=config.cutoff,
        batch_size=config.batch_size,
        split=config.split,
        seed=config.seed,
        drop_flagged=config.drop_flagged,
        bound_ev_per_atom=config.bound_ev_per_atom,
        force_fraction=config.force_fraction,
        dtype=config.dtype,
        element_energies={atomic_numbers[s]: float(e) for s, e in config.element_energies.items()},
    )


def optimization_settings(config: TrainConfig, has_forces: bool) -> dict[str, Any]:
    """The :class:`PotentialTask` keywords of a config: optimizer, loss weight, lr schedule."""
    return {
        "optimizer": config.optimizer,
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "alpha": config.alpha if has_forces else 0.0,
        "lr_patience": config.lr_patience,
        "lr_schedule": config.lr_schedule,
    }


def build_task(config: TrainConfig, datamodule: PotentialDataModule) -> PotentialTask:
    """The LightningModule of a config, with element references fitted on the training split.

    A model that takes ``species`` and was given none gets the data's
    elements (by atomic number); data-dependent buffers (descriptor
    normalisation) are fitted on the training split. With ``init_from`` the
    model starts from that checkpoint instead (:mod:`lightning_modules.training.pretrained`).
    """
    assert datamodule.energy_reference is not None and datamodule.data is not None
    assert datamodule.prepared is not None
    if config.init_from:
        try:
            task = task_from_pretrained(
                config.init_from,
                config.strategy,
                datamodule,
                **optimization_settings(config, datamodule.has_forces),
            )
        except TransferError as error:
            raise ConfigError(str(error)) from error
        datamodule.attach_features(
            task.model.precompute(datamodule.prepared.cache, datamodule.structures_with_forces)
        )
        return task
    model_config = dict(config.model_config)
    if "species" in model_parameters(config.model) and not model_config.get("species"):
        model_config["species"] = [chemical_symbols[z] for z in datamodule.data.elements()]
        logger.info("species (descriptor order) taken from the data: %s", model_config["species"])
    try:  # the task builds the model once; a bad model_config is one line
        task = PotentialTask(
            model_name=config.model,
            model_config=model_config,
            energy_reference=datamodule.energy_reference.as_dict(),
            **optimization_settings(config, datamodule.has_forces),
        )
    except (ValueError, TypeError, KeyError) as error:
        raise ConfigError(f"model_config: {error}") from error
    supported = task.model.supported_elements()
    missing = [
        z for z in datamodule.data.elements() if supported is not None and z not in supported
    ]
    if missing:
        raise ConfigError(
            f"the data holds atomic numbers {missing} that model {config.model!r} cannot take; "
            f"raise n_embedding above {max(missing)}, or add them to species"
        )
    datamodule.attach_features(
        task.model.precompute(datamodule.prepared.cache, datamodule.structures_with_forces)
    )
    task.model.fit_to_data(datamodule.train_dataloader())
    return task


ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def check_accelerator(name: str) -> None:
    """Refuse an unknown accelerator, or a GPU where none is available, in one line."""
    if name not in ACCELERATORS:
        raise ConfigError(f"unknown accelerator {name!r}; choose one of {', '.join(ACCELERATORS)}")
    if name in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"accelerator {name!r} asked for, but torch finds no CUDA GPU on this "
            f"machine; use --accelerator cpu (or auto)"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "accelerator 'mps' asked for, but this machine has no Apple GPU; use "
            "--accelerator cpu (or auto)"
        )


def train(
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    loggers: Sequence[Any] = (),
    datamodule: PotentialDataModule | None = None,
    task: PotentialTask | None = None,
    log_audit: bool = True,
) -> TrainResult:
    """Run one training: fit, keep the best validation epoch, test it, write the artifacts.

    The data audit is logged (``log_audit``) and always written to ``audit.json``.
    """
    check_accelerator(config.accelerator)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    datamodule = datamodule or build_datamodule(config)
    datamodule.setup()
    task = task or build_task(config, datamodule)
    assert datamodule.data is not None and datamodule.audit is not None
    if log_audit:
        logger.info("%s", datamodule.audit.format())
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    task.metadata = {
        "config": config.to_dict(),
        "data_fingerprint": datamodule.data.fingerprint(),
        "data_sources": list(datamodule.data.sources),
        "energy_unit": config.energy_unit,
        "split": {name: indices.tolist() for name, indices in datamodule.split.items()},
    }
    save_split(datamodule.split, output_dir / "split.npz")
    (output_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    (output_dir / "audit.json").write_text(json.dumps(datamodule.audit.as_dict(), indent=1))
    checkpoint = ModelCheckpoint(
        dirpath=output_dir,
        filename="best",
        monitor=MONITORED_METRIC,
        mode="min",
        save_top_k=1,
        enable_version_counter=False,
    )
    history = EpochHistory()
    all_callbacks: list[Callback] = [checkpoint, history, StopOnNonFinite(), *callbacks]
    if config.early_stopping_patience > 0:
        all_callbacks.append(
            EarlyStopping(monitor=MONITORED_METRIC, patience=config.early_stopping_patience)
        )
    trainer = pl.Trainer(
        max_epochs=config.max_epochs,
        accelerator=config.accelerator,
        devices=1,
        callbacks=all_callbacks,
        logger=list(loggers) if loggers else False,
        enable_progress_bar=config.progress_bar,
        enable_model_summary=False,
        gradient_clip_val=config.gradient_clip or None,
        inference_mode=False,
        num_sanity_val_steps=0,
        deterministic=False,
    )
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule)
    seconds = time.perf_counter() - start
    best_path = checkpoint.best_model_path
    if not best_path or checkpoint.best_model_score is None:
        raise DivergenceError("no validation epoch finished; nothing to test")
    test_metrics = trainer.test(task, datamodule=datamodule, ckpt_path=best_path, verbose=False)[0]
    best_epoch = min(history.epochs, key=lambda e: e.get(MONITORED_METRIC, math.inf))
    return TrainResult(
        checkpoint_path=best_path,
        output_dir=str(output_dir),
        best_val=float(checkpoint.best_model_score),
        test_metrics={k: float(v) for k, v in test_metrics.items()},
        val_metrics={k: v for k, v in best_epoch.items() if k.startswith("val_")},
        n_parameters=sum(p.numel() for p in task.model.parameters()),
        seconds=seconds,
        epochs=len(history.epochs),
        history=history.epochs,
        split={name: indices.tolist() for name, indices in datamodule.split.items()},
    )
