"""Trained potentials as MLflow Models: a ``pyfunc`` flavour around the checkpoint.

Every trial's and every training's best model is logged as the run's
``model`` artifact, an MLflow Model (``MLmodel``, the checkpoint under
``artifacts/``, a signature and an input example), and that is what the
registry versions point to. So MLflow's own tools work on them::

    mlflow.pyfunc.load_model("models:/seb@pretrained").predict(table)
    mlflow models serve -m models:/seb@pretrained --env-manager local

and :class:`~lightning_modules.training.calculator.PesweepCalculator` finds the
checkpoint inside (``PesweepCalculator.from_checkpoint("models:/seb@pretrained")``).

Input: one row per structure, written by hand as easily as an ASE ``Atoms``:
``numbers`` (atomic numbers), ``positions`` (Angstrom, one [x, y, z] per
atom), and for periodic structures ``cell`` (Angstrom, three vectors) and
``pbc`` (three booleans). Output: ``energy_eV`` and ``forces_eV_per_A``.
Serving needs pesweep installed where the server runs (``--env-manager local``
in pesweep's environment).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.types.schema import Array, ColSpec, Schema

from hpo import __version__
from hpo.runtime.environment import environment

MODEL_ARTIFACT = "model"  # runs:/<run_id>/model
CHECKPOINT_ARTIFACT = "checkpoint"  # the key of the checkpoint among the model's artifacts

SIGNATURE = ModelSignature(
    inputs=Schema(
        [
            ColSpec(Array("long"), "numbers"),
            ColSpec(Array(Array("double")), "positions"),
            ColSpec(Array(Array("double")), "cell", required=False),
            ColSpec(Array("boolean"), "pbc", required=False),
        ]
    ),
    outputs=Schema(
        [ColSpec("double", "energy_eV"), ColSpec(Array(Array("double")), "forces_eV_per_A")]
    ),
)


def _given(value: Any) -> bool:
    """Whether an optional column holds a value in this row (absent cells are None or NaN)."""
    if value is None:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def row_atoms(row: dict[str, Any]) -> Any:
    """An ASE ``Atoms`` from one input row; a one-line error for a malformed row."""
    from ase import Atoms

    numbers = np.asarray(row["numbers"], dtype=np.int64).reshape(-1)
    positions = np.array([np.asarray(p, dtype=np.float64) for p in row["positions"]], np.float64)
    if positions.shape != (len(numbers), 3):
        raise ValueError(
            f"positions must hold one [x, y, z] per atom ({len(numbers)} numbers), got shape "
            f"{positions.shape}"
        )
    if not np.isfinite(positions).all():
        raise ValueError("positions hold NaN or inf")
    vectors, pbc = row.get("cell"), row.get("pbc")
    if vectors is None or not _given(vectors):
        return Atoms(numbers=numbers, positions=positions)
    cell = np.array([np.asarray(v, dtype=np.float64) for v in vectors], dtype=np.float64)
    if cell.shape != (3, 3):
        raise ValueError(f"cell must be three [x, y, z] vectors, got shape {cell.shape}")
    periodic = np.asarray(pbc, dtype=bool).reshape(3) if _given(pbc) else True
    return Atoms(numbers=numbers, positions=positions, cell=cell, pbc=periodic)


class PotentialModel(PythonModel):
    """The pyfunc model: a :class:`PesweepCalculator` on the logged checkpoint."""

    def load_context(self, context: Any) -> None:
        from lightning_modules.training.calculator import PesweepCalculator

        self.calculator = PesweepCalculator.from_checkpoint(
            context.artifacts[CHECKPOINT_ARTIFACT], device="cpu"
        )

    def predict(self, context, model_input: pd.DataFrame, params=None):  # type: ignore[no-untyped-def]
        # only the input is hinted: a DataFrame, which MLflow checks against the signature
        from mlflow.exceptions import MlflowException

        frame = pd.DataFrame(model_input)
        energies, forces = [], []
        for index, row in enumerate(frame.to_dict(orient="records")):
            try:
                atoms = row_atoms(row)
                atoms.calc = self.calculator
                energies.append(float(atoms.get_potential_energy()))
                forces.append(atoms.get_forces().tolist())
            except (ValueError, TypeError, KeyError) as error:  # the input's fault, said as such
                # an MlflowException's message is what the scoring server answers the client
                raise MlflowException.invalid_parameter_value(
                    f"structure {index}: {error}"
                ) from error
        return pd.DataFrame({"energy_eV": energies, "forces_eV_per_A": forces})


def requirements() -> list[str]:
    """What a serving environment needs (written into the model; not inferred: that takes seconds)."""
    import ase
    import torch

    return [
        f"pesweep=={__version__}",
        f"torch=={torch.__version__.split('+')[0]}",
        f"mlflow=={mlflow.__version__}",
        f"ase=={ase.__version__}",
    ]


def save_potential_model(checkpoint: str | Path, example: dict[str, Any], folder: Path) -> Path:
    """Write the MLflow Model of ``checkpoint`` into ``folder/model``; returns that folder."""
    from mlflow.pyfunc import save_model

    path = folder / MODEL_ARTIFACT
    # MLflow's own setting: no progress bar per copy of the checkpoint, on every trial
    with environment({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}):
        save_model(
            str(path),
            python_model=str(Path(__file__).with_name("serving.py")),
            artifacts={CHECKPOINT_ARTIFACT: str(checkpoint)},
            signature=SIGNATURE,
            input_example=pd.DataFrame([example]) if example else None,
            pip_requirements=requirements(),
        )
    return path


def log_potential_model(
    client: Any, run_id: str, checkpoint: str | Path, example: dict[str, Any]
) -> None:
    """Log ``checkpoint`` as run ``run_id``'s ``model`` artifact (an MLflow Model)."""
    with tempfile.TemporaryDirectory(prefix="pesweep-model-") as folder:
        path = save_potential_model(checkpoint, example, Path(folder))
        client.log_artifacts(run_id, str(path), MODEL_ARTIFACT)
