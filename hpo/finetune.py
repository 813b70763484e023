"""Fine-tuning a pretrained model on target data, continuous transfer chains, scratch vs transfer.

``finetune`` rebuilds the architecture from a checkpoint (a path, an MLflow
artifact or ``models:/NAME@ALIAS``), loads its weights, refits the element
reference energies on the target training split (the energy scale and, for
ænet, the descriptor normalisation stay those of pretraining), freezes parts
by strategy, trains, and logs an MLflow run tagged with its parent version.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ase.data import chemical_symbols

from hpo import __version__
from hpo.promotion import Promotion, download_checkpoint, promote_run, registry_client, split_hash
from hpo.study import file_sha256
from hpo.tracking import EpochMetricsLogger, Tracker
from lightning_modules.data import DataWarning
from lightning_modules.references import EnergyReference
from lightning_modules.task import PotentialTask, load_task
from lightning_modules.training import (
    ConfigError,
    TrainConfig,
    TrainResult,
    build_datamodule,
    make_config,
    train,
)

logger = logging.getLogger(__name__)

STRATEGIES: dict[str, tuple[str, ...]] = {
    "full": (),
    "freeze-embedding": ("embedding",),
    "freeze-representation": ("embedding", "representation"),
    "head-only": ("embedding", "representation", "readout"),
}


def freeze(model: Any, strategy: str) -> list[str]:
    """Freeze the parts of ``model`` that ``strategy`` names; return the frozen group names."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose {', '.join(STRATEGIES)}")
    groups = model.parameter_groups()
    wanted = STRATEGIES[strategy]
    if strategy == "freeze-embedding" and "embedding" not in groups:
        raise ConfigError(f"{type(model).__name__} has no embedding to freeze; use "
                          f"freeze-representation or head-only")
    frozen = [name for name in wanted if name in groups]
    for name in frozen:
        for parameter in groups[name]:
            parameter.requires_grad_(False)
    return frozen


@dataclass
class FinetuneResult:
    """A fine-tuning run: its training result, MLflow run and (optional) promotion."""

    result: TrainResult
    run_id: str
    parent: str
    frozen: list[str]
    promotion: Promotion | None


def finetune(
    source: str,
    data: list[str],
    tracking_uri: str,
    energy_unit: str = "ev",
    strategy: str = "full",
    lr: float | None = None,
    max_epochs: int = 20,
    seed: int = 0,
    output_dir: str = "pesweep_runs/finetune",
    cutoff: float | None = None,
    experiment: str = "finetune",
    promote_as: str | None = None,
    alias: str = "finetuned",
    overrides: dict[str, Any] | None = None,
) -> FinetuneResult:
    """Fine-tune the model at ``source`` on ``data``; see the module docstring."""
    checkpoint = download_checkpoint(source, tracking_uri)
    try:
        pretrained = load_task(str(checkpoint))
    except Exception as error:  # torch/Lightning raise many kinds for a file that is no checkpoint
        raise ConfigError(f"{source} is not a pesweep checkpoint ({type(error).__name__}); "
                          f"pass a best.ckpt or a registered model") from error
    old_config = pretrained.metadata.get("config")
    if not old_config:
        raise ConfigError(f"{source}: the checkpoint records no training config")
    model_name = pretrained.hparams["model_name"]
    model_config = dict(pretrained.hparams["model_config"])
    model_cutoff = pretrained.model.cutoff
    if cutoff is not None and abs(cutoff - model_cutoff) > 1e-9:
        raise ConfigError(
            f"the pretrained model has cutoff {model_cutoff:g} A, not {cutoff:g} A; the "
            f"architecture is fixed in fine-tuning (train a new model for another cutoff)"
        )
    values = {k: v for k, v in old_config.items() if k in {f.name for f in
                                                            dataclasses.fields(TrainConfig)}}
    values.update(dict(data=list(data), energy_unit=energy_unit, max_epochs=max_epochs,
                       seed=seed, output_dir=output_dir, model=model_name,
                       model_config=model_config, lr=lr or old_config.get("lr", 5e-4) / 10,
                       progress_bar=False, element_energies={}))
    values.update(overrides or {})
    config = make_config(values)
    datamodule = build_datamodule(config)
    datamodule.setup()
    assert datamodule.data is not None and datamodule.energy_reference is not None
    supported = pretrained.model.supported_elements()
    trained = set(pretrained.model.energy_reference().element_energy)
    new_elements = sorted(set(datamodule.data.elements()) - trained)
    if supported is not None and set(datamodule.data.elements()) - supported:
        missing = sorted(set(datamodule.data.elements()) - supported)
        raise ConfigError(f"the target holds elements {[chemical_symbols[z] for z in missing]} "
                          f"that the pretrained {model_name} cannot take")
    if new_elements:
        warnings.warn(
            f"elements {[chemical_symbols[z] for z in new_elements]} were absent from the "
            f"pretraining data: their embedding rows start untrained", DataWarning, stacklevel=2)
    task = PotentialTask(model_name=model_name, model_config=model_config,
                         optimizer=config.optimizer, lr=config.lr,
                         weight_decay=config.weight_decay,
                         alpha=config.alpha if datamodule.has_forces else 0.0,
                         lr_patience=config.lr_patience)
    task.model.load_state_dict(pretrained.model.state_dict())
    refit = datamodule.energy_reference
    scale = pretrained.model.energy_reference().scale
    task.model.set_energy_reference(EnergyReference(refit.element_energy, refit.shift, scale))
    datamodule.attach_features(
        task.model.precompute(datamodule.data, datamodule.structures_with_forces))
    frozen = freeze(task.model, strategy)
    parent = _parent_label(source, tracking_uri)
    tracker = Tracker(tracking_uri, experiment)
    run_id = tracker.client.create_run(
        tracker.experiment_id, run_name=f"finetune-{Path(data[0]).stem}",
        tags={"pesweep.kind": "finetune", "pesweep.parent_model_version": parent,
              "pesweep.strategy": strategy, "pesweep.version": __version__,
              "pesweep.data_hash": ",".join(file_sha256(p)[:16] for p in data),
              "pesweep.energy_unit": energy_unit},
    ).info.run_id
    tracker.log_params(run_id, {"source": source, "strategy": strategy, "lr": config.lr,
                                "max_epochs": max_epochs, "seed": seed, **model_config})
    try:
        result = train(config, callbacks=[EpochMetricsLogger(tracker, run_id)],
                       datamodule=datamodule, task=task)
    except Exception:
        tracker.end_run(run_id, "FAILED")
        raise
    tracker.log_metrics(run_id, {**result.test_metrics, **{f"best_{k}": v for k, v in
                                                           result.val_metrics.items()},
                                 "train_seconds": result.seconds}, step=result.epochs)
    tracker.set_tags(run_id, {"pesweep.test_split_hash": split_hash(result.split["test"])})
    tracker.log_artifact(run_id, result.checkpoint_path, "checkpoint")
    tracker.log_artifact(run_id, Path(result.output_dir) / "split.npz")
    tracker.end_run(run_id, "FINISHED")
    promotion = None
    if promote_as:
        promotion = promote_run(registry_client(tracking_uri), run_id, promote_as, alias,
                                extra_tags={"strategy": strategy})
    return FinetuneResult(result, run_id, parent, frozen, promotion)


def _parent_label(source: str, tracking_uri: str) -> str:
    """``NAME/VERSION`` for a registered source, else the source as given."""
    if source.startswith("models:/"):
        from hpo.promotion import model_version

        version = model_version(registry_client(tracking_uri), source)
        return f"{version.name}/{version.version}"
    return source
