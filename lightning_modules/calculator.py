"""ASE calculator for any trained pesweep model (SchNet, ænet): energy (eV) and forces (eV/A).

    calc = PesweepCalculator.from_checkpoint("runs/seb20/best.ckpt")
    calc = PesweepCalculator.from_checkpoint("runs:/<run_id>/checkpoint")   # an MLflow artifact
    atoms.calc = calc
    atoms.get_potential_energy(), atoms.get_forces()

Works with ASE optimisers and molecular dynamics. ``device`` is chosen here
(CUDA when available), never inside the models; ``dtype="float64"`` gives the
smoothest dynamics.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from lightning_modules import keys
from lightning_modules.batching import atoms_to_batch
from lightning_modules.potential import Potential
from lightning_modules.task import load_task

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def registered_version(uri: str, tracking_uri: str | None) -> Any:
    """The model version behind ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    The registry is looked up in the tracking store (pesweep keeps both in one).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    body = uri.removeprefix("models:/")
    try:
        if "@" in body:
            version = client.get_model_version_by_alias(*body.split("@", 1))
        else:
            name, _, number = body.partition("/")
            version = client.get_model_version(name, number)
    except MlflowException as error:
        raise FileNotFoundError(
            f"{uri} is not in the registry at {client.tracking_uri}; check the name and alias "
            f"with pesweep models list"
        ) from error
    return version


def resolve_checkpoint(path_or_uri: str | Path, tracking_uri: str | None = None) -> Path:
    """A local checkpoint file for a path, a folder holding one, ``models:/...`` or ``runs:/...``."""
    text = str(path_or_uri)
    if text.startswith("models:/"):
        text = str(registered_version(text, tracking_uri).source)
    if text.startswith(("runs:/", "mlflow-artifacts:/")) or "://" in text:
        import tempfile

        import mlflow.artifacts

        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=text, tracking_uri=tracking_uri,
            dst_path=tempfile.mkdtemp(prefix="pesweep-model-")))
    else:
        local = Path(text)
    if local.is_dir():
        found = sorted(local.rglob("*.ckpt"))
        if not found:
            raise FileNotFoundError(f"{path_or_uri}: no .ckpt checkpoint inside")
        local = found[0]
    if not local.exists():
        raise FileNotFoundError(f"{path_or_uri}: no such checkpoint")
    return local


class PesweepCalculator(Calculator):
    """ASE calculator around a :class:`~lightning_modules.potential.Potential`."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(
        self,
        model: Potential,
        device: str | torch.device | None = None,
        dtype: str = "float32",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = DTYPES[dtype]
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        # elements seen in training have a fitted reference energy; others are refused
        self.trained_elements = set(self.model.energy_reference().element_energy)
        supported = self.model.supported_elements()
        if supported is not None:
            self.trained_elements &= supported

    @classmethod
    def from_checkpoint(
        cls,
        path_or_uri: str | Path,
        device: str | torch.device | None = None,
        dtype: str = "float32",
        tracking_uri: str | None = None,
    ) -> PesweepCalculator:
        """Load a trained model from a checkpoint path or an MLflow artifact URI."""
        task = load_task(str(resolve_checkpoint(path_or_uri, tracking_uri)))
        return cls(task.model, device=device, dtype=dtype)

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | tuple[str, ...] = ("energy",),
        system_changes: list[str] = all_changes,
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        unknown = sorted({int(z) for z in self.atoms.numbers} - self.trained_elements)
        if unknown:
            raise ValueError(
                f"the model was not trained for atomic numbers {unknown}; it knows "
                f"{sorted(self.trained_elements)}"
            )
        periodic = bool(self.atoms.pbc.any())
        batch = atoms_to_batch(
            self.atoms.numbers, self.atoms.positions, self.model.cutoff,
            self.atoms.cell.array if periodic else None, self.atoms.pbc if periodic else None,
            dtype=self.dtype,
        )
        batch = {name: tensor.to(self.device) for name, tensor in batch.items()}
        output = self.model(batch, compute_forces=True)
        energy = float(output[keys.ENERGY][0].detach())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": output[keys.FORCES].detach().cpu().numpy().astype(np.float64),
        }
