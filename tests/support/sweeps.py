"""A tiny search space and the options of a small random sweep over it (seconds per trial)."""

from __future__ import annotations

from pathlib import Path

from hpo.sweep.options import SweepOptions

TINY_SPACE = """
name: tiny
model: schnet
params:
  n_atom_basis: {type: categorical, choices: [8, 16]}
  n_interactions: {type: int, low: 1, high: 2}
  n_rbf: 8
  cutoff: {type: float, low: 3.5, high: 4.5, step: 0.5}
  lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
  batch_size: 20
"""


def tiny_sweep_options(folder: Path, space_file: Path, data_file: Path, **changes) -> SweepOptions:
    """A small random sweep of ``space_file`` on ``data_file``, stores and runs under ``folder``.

    ``changes`` replace any option, ``space`` and ``data`` included.
    """
    values = dict(
        study_name="test-study",
        storage=f"sqlite:///{folder / 'optuna.db'}",
        space=str(space_file),
        data=(str(data_file),),
        n_trials=3,
        max_epochs=2,
        sampler="random",
        pruner="none",
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        runs_dir=str(folder / "runs"),
        show_progress_bar=False,
    )
    values.update(changes)
    return SweepOptions(**values)
