"""Registered potentials are MLflow Models: pyfunc loads them, ``mlflow models serve`` serves them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

import pesweep
from hpo.sweep.runner import run_sweep
from hpo.tracking.model_flavour import row_atoms
from hpo.workflows.promotion import promote_best_trial
from lightning_modules.data.emt_data import emt_clusters
from tests.support.services import free_port


@pytest.fixture
def promoted(sweep_options):
    outcome = run_sweep(sweep_options(n_trials=1))
    promote_best_trial(outcome.study, outcome.tracking, "cuau")
    return outcome.tracking.uri


def structure_record(seed: int) -> dict:
    atoms = emt_clusters(n_structures=1, seed=seed)[0]
    return {"numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist()}


def calculator_results(record: dict, tracking_uri: str) -> tuple[float, np.ndarray]:
    atoms = row_atoms(record)
    atoms.calc = pesweep.load_potential("models:/cuau@pretrained", tracking_uri=tracking_uri)
    return atoms.get_potential_energy(), atoms.get_forces()


def test_a_registered_version_is_an_mlflow_model_with_signature_and_example(promoted) -> None:
    mlflow.set_tracking_uri(promoted)
    try:
        info = mlflow.models.get_model_info("models:/cuau@pretrained")
        model = mlflow.pyfunc.load_model("models:/cuau@pretrained")
    finally:
        mlflow.set_tracking_uri(None)
    assert [spec.name for spec in info.signature.inputs.inputs] == [
        "numbers",
        "positions",
        "cell",
        "pbc",
    ]
    assert [spec.name for spec in info.signature.outputs.inputs] == ["energy_eV", "forces_eV_per_A"]
    assert info.saved_input_example_info is not None  # a test structure of the training data
    records = [structure_record(31), structure_record(32)]
    predicted = model.predict(pd.DataFrame(records))
    assert list(predicted.columns) == ["energy_eV", "forces_eV_per_A"]
    for record, (_, row) in zip(records, predicted.iterrows(), strict=True):
        energy, forces = calculator_results(record, promoted)
        assert row["energy_eV"] == pytest.approx(energy, abs=1e-6)
        np.testing.assert_allclose(
            np.array(list(row["forces_eV_per_A"]), dtype=float), forces, atol=1e-6
        )


def test_row_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"one \[x, y, z\] per atom"):
        row_atoms({"numbers": [29, 79], "positions": [[0.0, 0.0, 0.0]]})
    with pytest.raises(ValueError, match="NaN"):
        row_atoms({"numbers": [29], "positions": [[0.0, float("nan"), 0.0]]})
    periodic = row_atoms(
        {
            "numbers": [29],
            "positions": [[0.0, 0.0, 0.0]],
            "cell": [[3.6, 0, 0], [0, 3.6, 0], [0, 0, 3.6]],
            "pbc": [True, True, False],
        }
    )
    assert periodic.pbc.tolist() == [True, True, False]


def test_mlflow_models_serve_answers_like_the_calculator(promoted, tmp_path: Path) -> None:
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/cuau@pretrained",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        # mlflow runs `uvicorn` from PATH: this environment's, also when it is not activated
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": promoted,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow models serve did not answer /ping"
                time.sleep(0.5)
        record = structure_record(33)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"dataframe_records": [record]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            [prediction] = json.load(answer)["predictions"]
        bad = {**record, "positions": record["positions"][:-1]}  # one atom without a position
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"dataframe_records": [bad]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 400
        message = json.load(refused.value)["message"]
        assert "structure 0: positions must hold one [x, y, z] per atom" in message
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have ended on its own
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    energy, forces = calculator_results(record, promoted)
    assert prediction["energy_eV"] == pytest.approx(energy, abs=1e-6)
    np.testing.assert_allclose(np.array(prediction["forces_eV_per_A"]), forces, atol=1e-6)


def test_the_model_lists_what_serving_needs(promoted) -> None:
    mlflow.set_tracking_uri(promoted)
    try:
        folder = mlflow.artifacts.download_artifacts("models:/cuau@pretrained")
    finally:
        mlflow.set_tracking_uri(None)
    requirements = (Path(folder) / "requirements.txt").read_text().split()
    assert any(line.startswith("pesweep==") for line in requirements)
    assert any(line.startswith("torch==") for line in requirements)
    assert yaml.safe_load((Path(folder) / "MLmodel").read_text())["flavors"]["python_function"]


def test_models_logged_before_the_subpackages_still_find_their_class():
    """Their code file (a copy of the old hpo/served_potential.py) imports hpo.potential_model."""
    from hpo.potential_model import PotentialModel as Legacy
    from hpo.tracking.model_flavour import PotentialModel

    assert Legacy is PotentialModel
