"""Shared fixtures: real SeB_n data read in place from ../shared, and seeded EMT clusters."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hpo.sweep.options import SweepOptions
from lightning_modules.data import AtomsData, load_data
from lightning_modules.data.emt_data import write_emt_clusters
from tests.support.data import shared_file
from tests.support.sweeps import TINY_SPACE, tiny_sweep_options


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

    from hpo.cli.main import main

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        code = main(list(args))
        printed = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, printed.out, printed.err)

    return run
