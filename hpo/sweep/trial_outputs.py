"""What one trial leaves besides its metrics: its test evaluation, epoch history and figures.

Pure helpers of :class:`hpo.sweep.objective.Objective`: they read a trial's
checkpoints and write its SVG figures; none of them talks to MLflow.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import optuna
from optuna.trial import TrialState

from lightning_modules import keys
from lightning_modules.batching.batches import BatchCollator
from lightning_modules.conventions import MONITORED_METRIC
from lightning_modules.data import AtomsData
from lightning_modules.errors import CheckpointError, PesweepError
from lightning_modules.training.evaluation import predict_energies, split_loader
from lightning_modules.training.prepared import PreparedData
from lightning_modules.training.task import load_task, read_checkpoint


def slurm_task() -> str:
    """The Slurm job (``JOB_TASK`` for an array task) this worker runs in, or ''."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID", "")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{job}_{task}" if job and task is not None else job


def resumed_epoch(checkpoint: Path) -> int:
    """The first epoch a run resumed from ``checkpoint`` trains (Lightning's epoch + 1).

    Weights-only (:func:`read_checkpoint`): a planted file is refused before it runs.
    """
    state = read_checkpoint(checkpoint)
    if not isinstance(state.get("epoch"), int):
        raise CheckpointError(f"{checkpoint} records no epoch; it is no last.ckpt of a trial")
    return state["epoch"] + 1


def evaluate_test_split(
    checkpoint_path: str, data: AtomsData | PreparedData
) -> tuple[float, np.ndarray, np.ndarray]:
    """Milliseconds per structure (energies and forces, first batch of up to 64) and test energies.

    Returns (ms per structure, reference energies, predicted energies), eV, on the
    checkpoint's recorded test split. The timed batch is built as new structures
    are (its own neighbour pairs, no cached descriptors), so the time includes
    what the model computes from positions; the energies may use a sweep's cache.
    """
    task = load_task(checkpoint_path)
    if not task.metadata.get("split", {}).get("test"):
        return float("nan"), np.zeros(0), np.zeros(0)
    loader = split_loader(task, data, energies_only=True)
    first = cast(list[int], loader.dataset)[: loader.batch_size]
    batch = cast(BatchCollator, loader.collate_fn).uncached(first, task.model.cutoff)
    task(batch, compute_forces=True)  # warm-up
    start = time.perf_counter()
    task(batch, compute_forces=True)
    milliseconds = 1000.0 * (time.perf_counter() - start) / len(batch[keys.N_ATOMS])
    reference, predicted, _ = predict_energies(task, loader)
    return milliseconds, reference, predicted


def epoch_history(checkpoint: Path) -> list[dict[str, float]]:
    """The per-epoch metrics a trial's ``last.ckpt`` carries (its EpochHistory), or []."""
    try:
        state = read_checkpoint(checkpoint)
    except PesweepError:  # none yet (pruned in its first epoch), or unreadable
        return []
    for callback in state.get("callbacks", {}).values():
        if isinstance(callback, dict) and isinstance(callback.get("epochs"), list):
            return [dict(epoch) for epoch in callback["epochs"]]
    return []


def reported_history(trial: optuna.Trial) -> list[dict[str, float]]:
    """The validation MAE per epoch that a running trial reported to Optuna."""
    for frozen in trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.number == trial.number:
            return [
                {"epoch": float(step), MONITORED_METRIC: value}
                for step, value in sorted(frozen.intermediate_values.items())
            ]
    return []


def write_trial_figures(
    number: int,
    output_dir: Path,
    reference: np.ndarray,
    predicted: np.ndarray,
    history: list[dict[str, float]],
    parity: bool = True,
) -> list[Path]:
    """Parity plot (``parity``) and learning curve of a trial as SVG files in its folder."""
    from dashboards.svg import curves_svg, parity_svg

    mae = float(np.abs(predicted - reference).mean()) if len(reference) else float("nan")
    figures = {
        "parity.svg": parity_svg(
            reference.tolist(), predicted.tolist(), f"trial {number}: test MAE {mae:.4g} eV"
        )
        if parity
        else "",
        "learning_curve.svg": curves_svg(
            {
                name: (
                    [e["epoch"] for e in history if name in e],
                    [e[name] for e in history if name in e],
                )
                for name in ("train_energy_mae_eV", "val_energy_mae_eV")
            },
            f"trial {number}",
            "energy MAE [eV]",
        ),
    }
    paths = []
    for name, text in figures.items():
        if not text:
            continue
        path = output_dir / name
        path.write_text(text)
        paths.append(path)
    return paths


def upload_trial_figures(trial: optuna.Trial, store: Any, figures: list[Path]) -> None:
    """The trial's figures as SVG artifacts in optuna-dashboard."""
    from optuna.artifacts import upload_artifact

    for path in figures:
        upload_artifact(
            artifact_store=store,
            file_path=str(path),
            study_or_trial=trial,
            mimetype="image/svg+xml",
        )
