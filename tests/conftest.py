"""Shared fixtures: real SeB_n data read in place from ../shared, and seeded EMT clusters."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hpo.sweep_options import SweepOptions
from lightning_modules.data import AtomsData, load_data
from lightning_modules.data.emt_data import write_emt_clusters

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SEB = SHARED_DATA / "seb_clusters"


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data set is not beside this checkout")
    return path


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Each test has its own model cache, and no store URL of the user's environment."""
    monkeypatch.setenv("PESWEEP_CACHE_DIR", str(tmp_path_factory.mktemp("model-cache")))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PESWEEP_STORAGE", raising=False)


@pytest.fixture(scope="session")
def emt_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 Cu/Au clusters with EMT energies and forces (extxyz), made once per session."""
    return write_emt_clusters(tmp_path_factory.mktemp("emt") / "cuau.xyz", n_structures=120, seed=7)


@pytest.fixture(scope="session")
def emt_data(emt_file: Path) -> AtomsData:
    return load_data(emt_file)


@pytest.fixture(scope="session")
def seb20() -> AtomsData:
    """All 2000 SeB20 structures (Hartree in the file, eV here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_data(shared_file("seb_clusters/SeBn/B=20.npz"), "hartree")


@pytest.fixture(scope="session")
def seb20_small(seb20: AtomsData) -> AtomsData:
    """60 SeB20 structures drawn with a fixed seed."""
    indices = np.sort(np.random.default_rng(0).choice(len(seb20), 60, replace=False))
    return seb20.subset(indices)


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
    return write_emt_clusters(
        tmp_path_factory.mktemp("emt") / "cuau60.xyz", n_structures=60, seed=3
    )


@pytest.fixture
def tiny_space(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return path


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


@pytest.fixture
def sweep_options(tmp_path: Path, tiny_space: Path, small_emt_file: Path):
    def make(**changes) -> SweepOptions:
        return tiny_sweep_options(tmp_path, tiny_space, small_emt_file, **changes)

    return make


@pytest.fixture
def pesweep_in_process(monkeypatch, capsys):
    """``pesweep ARGS`` run in this process from ``cwd`` (the console script's own main()).

    Returns a CompletedProcess; seconds faster than a subprocess, which imports
    torch, Lightning and MLflow again. Tests of the console script itself
    (signals, start-up, environment) keep using a subprocess.
    """
    import subprocess

    from hpo.cli import main

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        code = main(list(args))
        printed = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, printed.out, printed.err)

    return run
