"""The function that runs one training (:func:`train`) from its :class:`TrainConfig`.

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
import warnings
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
from lightning_modules.data import audit as data_audit
from lightning_modules.data.atoms import DataWarning
from lightning_modules.data.references import undetermined_message
from lightning_modules.data.splits import save_split
from lightning_modules.models.potential import ModelSettings
from lightning_modules.models.registry import model_parameters
from lightning_modules.training.config import ConfigError, TrainConfig
from lightning_modules.training.datamodule import PotentialDataModule
from lightning_modules.training.environment import trainer_plugins, without_srun_warning
from lightning_modules.training.prepared import DataSettings, PreparedData
from lightning_modules.training.pretrained import TransferError, task_from_pretrained
from lightning_modules.training.task import PotentialTask, file_sha256

logger = logging.getLogger(__name__)


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
    energy_reference: dict[str, Any] = field(default_factory=dict)  # EnergyReference.as_dict()
    example: dict[str, Any] = field(default_factory=dict)  # a test structure, AtomsData.as_record
    data_files: list[dict[str, Any]] = field(default_factory=list)  # AtomsData.source_summaries
    checkpoint_sha256: str = ""  # of best.ckpt as written: loads and promotions compare with it


class EpochHistory(Callback):
    """Keeps every epoch's logged metrics (learning curves for reports and MLflow).

    Its state travels in the checkpoints, so a resumed run keeps its earlier epochs.
    """

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": [dict(epoch) for epoch in self.epochs]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs = [dict(epoch) for epoch in state_dict.get("epochs", [])]

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
        keep_flagged_in_test=config.keep_flagged_in_test,
        drop_outliers=config.drop_outliers,
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
    if data is None and not config.data:
        raise ConfigError("no data: set 'data' to one or more files (or pass --data PATH)")
    return PotentialDataModule(
        data=data if data is not None else list(config.data),
        energy_unit=config.energy_unit,
        cutoff=config.cutoff,
        batch_size=config.batch_size,
        settings=data_settings(config),
        dtype=config.dtype,
    )


def optimization_settings(config: TrainConfig, has_forces: bool) -> dict[str, Any]:
    """The :class:`PotentialTask` keywords of a config: optimizer, loss and its weight, lr schedule."""
    return {
        "optimizer": config.optimizer,
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "alpha": config.alpha if has_forces else 0.0,
        "ranking_alpha": None
        if config.ranking_alpha is None
        else (config.ranking_alpha if has_forces else 0.0),
        "lr_patience": config.lr_patience,
        "lr_schedule": config.lr_schedule,
        "loss": config.loss,
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
                label=config.init_from_label,
                model_changes={
                    name: value
                    for name, value in config.model_config.items()
                    if name in ModelSettings.WEIGHTLESS
                },
                **optimization_settings(config, datamodule.has_forces),
            )
        except TransferError as error:
            raise ConfigError(str(error)) from error
        datamodule.attach_features(
            task.model.precompute(datamodule.prepared.cache, datamodule.structures_with_forces)
        )
        return task
    undetermined = undetermined_message(
        datamodule.data.subset(datamodule.split["train"]),
        dict(datamodule.settings.element_energies),
    )
    if undetermined:
        warnings.warn(undetermined, DataWarning, stacklevel=2)
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
    task.metadata["energy_reference"] = dataclasses.replace(
        datamodule.energy_reference, source=config.element_energies_source
    ).as_dict()
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
    resume_from: str | None = None,
) -> TrainResult:
    """Run one training: fit, keep the best validation epoch, test it, write the artifacts.

    The data audit is logged (``log_audit``) and always written to ``audit.json``.
    Every epoch also writes ``last.ckpt`` (weights, optimizer, scheduler, epoch,
    callback states); ``resume_from`` (such a file of an interrupted run of
    the same config) continues from its next epoch, with the same training
    order as an uninterrupted run.
    """
    check_accelerator(config.accelerator)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    datamodule = datamodule or build_datamodule(config)
    datamodule.setup()
    task = task or build_task(config, datamodule)
    assert datamodule.data is not None and datamodule.audit is not None
    if log_audit:
        data_audit.log_audit(logger, datamodule.audit)
    # what was read, also when the data were passed in rather than named by the config
    config = dataclasses.replace(config, data=tuple(datamodule.data.sources))
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    task.metadata = {
        **task.metadata,  # what building the task recorded (references, frozen parts)
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
    last = ModelCheckpoint(  # every epoch, after the best one (Lightning runs them in order)
        dirpath=output_dir, filename="last", save_top_k=1, enable_version_counter=False
    )
    history = EpochHistory()
    all_callbacks: list[Callback] = [checkpoint, last, history, StopOnNonFinite(), *callbacks]
    if config.early_stopping_patience > 0:
        all_callbacks.append(
            EarlyStopping(monitor=MONITORED_METRIC, patience=config.early_stopping_patience)
        )
    trainer = pl.Trainer(
        plugins=trainer_plugins(),
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
    with without_srun_warning():
        trainer.fit(task, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    seconds = time.perf_counter() - start
    epochs = list(history.epochs)  # testing from best.ckpt restores the callbacks' states
    best_path = checkpoint.best_model_path
    if not best_path or checkpoint.best_model_score is None:
        raise DivergenceError("no validation epoch finished; nothing to test")
    with without_srun_warning():
        test = trainer.test(task, datamodule=datamodule, ckpt_path=best_path, verbose=False)
    test_metrics = test[0]
    example_indices = [*datamodule.split.get("test", []), *datamodule.split.get("train", [])]
    best_epoch = min(epochs, key=lambda e: e.get(MONITORED_METRIC, math.inf))
    return TrainResult(
        checkpoint_path=best_path,
        output_dir=str(output_dir),
        best_val=float(checkpoint.best_model_score),
        test_metrics={k: float(v) for k, v in test_metrics.items()},
        val_metrics={k: v for k, v in best_epoch.items() if k.startswith("val_")},
        n_parameters=sum(p.numel() for p in task.model.parameters()),
        seconds=seconds,
        epochs=len(epochs),
        history=epochs,
        split={name: indices.tolist() for name, indices in datamodule.split.items()},
        energy_reference=dict(task.metadata.get("energy_reference", {})),
        example=datamodule.data.as_record(int(next(iter(example_indices), 0))),
        data_files=datamodule.data.source_summaries(),
        checkpoint_sha256=file_sha256(best_path),
    )
