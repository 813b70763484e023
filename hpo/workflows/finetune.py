"""Fine-tuning a pretrained model on target data, as one tracked run.

``finetune`` takes a checkpoint (a path, an MLflow artifact or
``models:/NAME@ALIAS``), checks the requested cutoff against it, and trains
with ``init_from`` (:mod:`lightning_modules.training.pretrained`: weights loaded,
element references refitted on the target training split, parts frozen by
strategy), logging an MLflow run tagged with its parent version; the result
can be promoted.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo import __version__
from hpo.tracking.model_uris import registered_version, resolve_checkpoint
from hpo.tracking.runs import Tracker
from hpo.tracking.stores import Store, tracking_store
from hpo.tracking.training_runs import tracked_training
from hpo.workflows.promotion import Promotion, promote_run, registry_client
from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.file_digest import file_sha256
from lightning_modules.training.config import ConfigError, config_from_record
from lightning_modules.training.pretrained import STRATEGIES, TransferError, load_pretrained
from lightning_modules.training.run import TrainResult, train

logger = logging.getLogger(__name__)


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
    tracking_uri: str | Store | None,
    energy_unit: str = DEFAULT_ENERGY_UNIT,
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
    local_checkpoint: Path | None = None,
    track: bool = True,
) -> FinetuneResult:
    """Fine-tune the model at ``source`` on ``data``; see the module docstring.

    ``local_checkpoint``: a copy of ``source`` already resolved to a file (callers that
    fine-tune one source several times download it once); lineage still names ``source``.
    ``track=False`` logs no MLflow run (then nothing can be promoted: ``run_id`` is '').
    """
    if promote_as and not track:
        raise ConfigError("--promote-as registers the fine-tuning's MLflow run; drop --no-tracking")
    tracking = tracking_store(tracking_uri)
    checkpoint = local_checkpoint or resolve_checkpoint(source, tracking)
    try:
        pretrained = load_pretrained(str(checkpoint))
    except TransferError as error:
        raise ConfigError(str(error)) from error
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
    changes = dict(
        data=list(data),
        energy_unit=energy_unit,
        max_epochs=max_epochs,
        seed=seed,
        output_dir=output_dir,
        model=model_name,
        model_config=model_config,
        lr=lr or old_config.get("lr", 5e-4) / 10,
        progress_bar=False,
        element_energies={},
        init_from=str(checkpoint),
        strategy=strategy,
    )
    config = config_from_record(old_config, **{**changes, **(overrides or {})})
    frozen = [g for g in STRATEGIES.get(strategy, ()) if g in pretrained.model.parameter_groups()]
    parent = parent_label(source, tracking)
    config = dataclasses.replace(config, init_from_label=parent)
    if not track:
        return FinetuneResult(train(config), "", parent, frozen, None)
    result, run_id = tracked_training(
        config,
        Tracker(tracking, experiment),
        f"finetune-{Path(data[0]).stem}",
        tags={
            "pesweep.kind": "finetune",
            "pesweep.parent_model_version": parent,
            "pesweep.strategy": strategy,
            "pesweep.version": __version__,
            "pesweep.data_hash": ",".join(file_sha256(p)[:16] for p in data),
            "pesweep.energy_unit": energy_unit,
        },
        params={
            "source": source,
            "strategy": strategy,
            "lr": config.lr,
            "max_epochs": max_epochs,
            "seed": seed,
            **model_config,
        },
    )
    promotion = None
    if promote_as:
        promotion = promote_run(
            registry_client(tracking),
            run_id,
            promote_as,
            alias,
            extra_tags={"strategy": strategy},
        )
    return FinetuneResult(result, run_id, parent, frozen, promotion)


def parent_label(source: str, tracking: str | Store | None) -> str:
    """``NAME/VERSION`` for a registered source, else the source as given."""
    if source.startswith("models:/"):
        version = registered_version(source, tracking)
        return f"{version.name}/{version.version}"
    return source
