"""Continuous transfer chains (SeB16 -> SeB17 -> ...) and scratch-versus-transfer comparisons."""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from hpo import __version__
from hpo.tracking.model_uris import resolve_checkpoint
from hpo.tracking.runs import Tracker
from hpo.tracking.stores import Store, tracking_store
from hpo.tracking.training_runs import tracked_training
from hpo.workflows.finetune import finetune
from hpo.workflows.promotion import promote_run, registry_client
from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.file_digest import file_sha256
from lightning_modules.training.config import TrainConfig, config_from_record
from lightning_modules.training.run import train
from lightning_modules.training.task import load_task

logger = logging.getLogger(__name__)

COMPARED = (
    "test_energy_rmse_eV",
    "test_energy_mae_eV",
    "test_force_rmse_eV_per_A",
    "test_force_mae_eV_per_A",
)


@dataclass
class Stage:
    """One stage of a chain: transfer result, registered version, and direct training."""

    data: str
    version: str
    parent: str
    test_energy_mae_eV: float
    seconds: float
    direct_test_energy_mae: float | None = None
    direct_seconds: float | None = None


def run_chain(
    datasets: list[str],
    base: TrainConfig,
    tracking_uri: str | Store | None,
    model_name: str,
    source: str | None = None,
    strategy: str = "full",
    finetune_lr: float | None = None,
    compare_direct: bool = True,
    runs_dir: str = "pesweep_runs/chain",
) -> list[Stage]:
    """Train on the first data set (or fine-tune ``source`` on it), then fine-tune on each next.

    Every stage is registered as a version of ``model_name`` (alias
    ``chain-latest``) whose ``parent_model_version`` tag names the stage
    before. With ``compare_direct`` each set is also trained from scratch
    with the same epoch budget.
    """
    tracking = tracking_store(tracking_uri)
    tracker = Tracker(tracking, f"chain-{model_name}")
    client = registry_client(tracking)
    stages: list[Stage] = []
    previous: str | None = source
    for index, data in enumerate(datasets):
        output_dir = str(Path(runs_dir) / f"stage-{index}")
        stage_config = dataclasses.replace(base, data=(data,), output_dir=output_dir)
        if previous is None:
            result, run_id = tracked_training(
                stage_config,
                tracker,
                f"chain-stage-{Path(data).stem}",
                tags={
                    "pesweep.kind": "chain-stage",
                    "pesweep.version": __version__,
                    "pesweep.energy_unit": stage_config.energy_unit,
                    "pesweep.data_hash": file_sha256(data)[:16],
                },
                params={
                    "model": stage_config.model,
                    **stage_config.model_config,
                    "lr": stage_config.lr,
                    "max_epochs": stage_config.max_epochs,
                    "seed": stage_config.seed,
                },
            )
            parent = ""
        else:
            tuned = finetune(
                previous,
                [data],
                tracking,
                energy_unit=base.energy_unit,
                strategy=strategy,
                lr=finetune_lr,
                max_epochs=base.max_epochs,
                seed=base.seed,
                output_dir=output_dir,
                experiment=f"chain-{model_name}",
            )
            result, run_id, parent = tuned.result, tuned.run_id, tuned.parent
        promotion = promote_run(
            client,
            run_id,
            model_name,
            "chain-latest",
            extra_tags={"chain_stage": index, "chain_data": data},
        )
        previous = f"models:/{model_name}/{promotion.version}"
        stage = Stage(
            data,
            promotion.version,
            parent,
            result.test_metrics["test_energy_mae_eV"],
            result.seconds,
        )
        if compare_direct and index > 0:
            direct = train(
                dataclasses.replace(stage_config, output_dir=output_dir + "-direct"),
                log_audit=False,
            )
            stage.direct_test_energy_mae = direct.test_metrics["test_energy_mae_eV"]
            stage.direct_seconds = direct.seconds
        logger.info(
            "stage %d (%s): version %s, test MAE %.4g eV",
            index,
            data,
            promotion.version,
            stage.test_energy_mae_eV,
        )
        stages.append(stage)
    return stages


@dataclass
class Comparison:
    """Per-seed test metrics of scratch and transfer training, means and paired t-tests."""

    seeds: list[int]
    scratch: dict[str, list[float]] = field(default_factory=dict)
    transfer: dict[str, list[float]] = field(default_factory=dict)
    p_values: dict[str, float] = field(default_factory=dict)
    run_id: str = ""

    def table(self) -> str:
        lines = [
            f"{'metric':22s} {'scratch mean':>13s} {'transfer mean':>14s} {'p (paired t)':>13s}"
        ]
        for name in self.p_values:
            lines.append(
                f"{name:22s} {np.mean(self.scratch[name]):13.5g} "
                f"{np.mean(self.transfer[name]):14.5g} {self.p_values[name]:13.3g}"
            )
        lines.append("per seed (scratch / transfer):")
        for k, seed in enumerate(self.seeds):
            cells = ", ".join(
                f"{name} {self.scratch[name][k]:.4g} / {self.transfer[name][k]:.4g}"
                for name in self.p_values
            )
            lines.append(f"  seed {seed}: {cells}")
        return "\n".join(lines)


def compare_transfer(
    source: str,
    target: list[str],
    tracking_uri: str | Store | None,
    seeds: list[int],
    max_epochs: int,
    energy_unit: str = DEFAULT_ENERGY_UNIT,
    strategy: str = "full",
    finetune_lr: float | None = None,
) -> Comparison:
    """Scratch and fine-tuned training with the same budget and split per seed; paired t-tests."""
    tracking = tracking_store(tracking_uri)
    checkpoint = resolve_checkpoint(source, tracking)  # downloaded once for every seed
    pretrained = load_task(str(checkpoint))
    record = dict(pretrained.metadata["config"])
    comparison = Comparison(seeds=list(seeds))
    folder = Path(tempfile.mkdtemp(prefix="pesweep-compare-"))
    for seed in seeds:
        scratch_config = config_from_record(
            record,
            data=list(target),
            energy_unit=energy_unit,
            max_epochs=max_epochs,
            seed=seed,
            progress_bar=False,
            element_energies={},
            output_dir=str(folder / f"scratch-{seed}"),
        )
        scratch = train(scratch_config, log_audit=False)
        transfer = finetune(
            source,
            list(target),
            tracking,
            energy_unit=energy_unit,
            strategy=strategy,
            lr=finetune_lr,
            max_epochs=max_epochs,
            seed=seed,
            output_dir=str(folder / f"transfer-{seed}"),
            experiment="compare",
            local_checkpoint=checkpoint,
        )
        for name in COMPARED:
            if name in scratch.test_metrics and name in transfer.result.test_metrics:
                comparison.scratch.setdefault(name, []).append(scratch.test_metrics[name])
                comparison.transfer.setdefault(name, []).append(transfer.result.test_metrics[name])
    for name in comparison.scratch:
        if len(seeds) > 1:
            p = stats.ttest_rel(comparison.scratch[name], comparison.transfer[name]).pvalue
        else:
            p = math.nan
        comparison.p_values[name] = float(p)
    comparison.run_id = _log_comparison(comparison, source, target, tracking)
    return comparison


def _log_comparison(comparison: Comparison, source: str, target: list[str], tracking: Store) -> str:
    tracker = Tracker(tracking, "compare")
    run_id = tracker.client.create_run(
        tracker.experiment_id,
        run_name="scratch-vs-transfer",
        tags={
            "pesweep.kind": "comparison",
            "pesweep.source": source,
            "pesweep.version": __version__,
        },
    ).info.run_id
    tracker.log_params(
        run_id,
        {
            "source": source,
            "target": ",".join(target),
            "seeds": ",".join(map(str, comparison.seeds)),
        },
    )
    for k, seed in enumerate(comparison.seeds):
        tracker.log_metrics(
            run_id,
            {f"scratch_{n}": v[k] for n, v in comparison.scratch.items()}
            | {f"transfer_{n}": v[k] for n, v in comparison.transfer.items()},
            step=seed,
        )
    tracker.log_metrics(run_id, {f"p_{n}": p for n, p in comparison.p_values.items()})
    tracker.log_dict(
        run_id,
        {
            "seeds": comparison.seeds,
            "scratch": comparison.scratch,
            "transfer": comparison.transfer,
            "p_values": comparison.p_values,
        },
        "comparison.json",
    )
    tracker.end_run(run_id, "FINISHED")
    return run_id


def summarise_chain(stages: list[Stage]) -> str:
    """A table of a chain: per stage test MAE and seconds, against direct training."""
    lines = [
        f"{'stage':>5s} {'version':>7s} {'transfer MAE eV':>16s} "
        f"{'s':>7s} {'direct MAE eV':>14s} {'s':>7s}  data"
    ]
    for k, stage in enumerate(stages):
        direct = (
            f"{stage.direct_test_energy_mae:14.4g} {stage.direct_seconds:7.1f}"
            if stage.direct_test_energy_mae is not None
            else f"{'-':>14s} {'-':>7s}"
        )
        lines.append(
            f"{k:5d} {stage.version:>7s} "
            f"{stage.test_energy_mae_eV:16.4g} {stage.seconds:7.1f} {direct}  {stage.data}"
        )
    total = sum(s.seconds for s in stages)
    direct_total = sum(s.direct_seconds or 0.0 for s in stages) + stages[0].seconds
    if any(s.direct_seconds for s in stages):
        lines.append(
            f"compute: chain {total:.1f} s, direct training on every set {direct_total:.1f} s"
        )
    return "\n".join(lines)
