"""Fixtures for sweeps: a small EMT data file, a tiny space, temporary stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.sweep import SweepOptions
from lightning_modules.emt_data import write_emt_clusters

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


@pytest.fixture(scope="session")
def small_emt_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_emt_clusters(tmp_path_factory.mktemp("emt") / "cuau60.xyz", n_structures=60,
                              seed=3)


@pytest.fixture
def tiny_space(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture
def sweep_options(tmp_path: Path, tiny_space: Path, small_emt_file: Path):
    def make(**changes) -> SweepOptions:
        values = dict(
            study_name="test-study",
            storage=f"sqlite:///{tmp_path / 'optuna.db'}",
            space=str(tiny_space),
            data=(str(small_emt_file),),
            n_trials=3,
            max_epochs=2,
            sampler="random",
            pruner="none",
            tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
            runs_dir=str(tmp_path / "runs"),
            show_progress_bar=False,
        )
        values.update(changes)
        return SweepOptions(**values)

    return make
