"""ASE calculator for any trained pesweep model (SchNet, ænet): energy (eV) and forces (eV/A).

    calc = PesweepCalculator.from_checkpoint("runs/seb20/best.ckpt")
    atoms.calc = calc
    atoms.get_potential_energy(), atoms.get_forces()

A registered MLflow Model loads with ``pesweep.load_potential("models:/seb@pretrained")``.
Works with ASE optimisers and molecular dynamics. ``device`` is chosen here
(CUDA when available), never inside the models; ``dtype="float64"`` gives the
smoothest dynamics. In float64 on the CPU, non-periodic structures go through
the model's compiled form where it has one (ænet:
:mod:`lightning_modules.models.aenet_cluster`: its model step about ten times
faster on a 31-atom cluster, the MD check six times (``benchmarks/md_check_speed.py``),
the same energies and forces to rounding);
``compiled=False`` keeps every evaluation in PyTorch.
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
from lightning_modules.batching.batches import atoms_to_batch, replicas_to_batch
from lightning_modules.errors import CheckpointNotFound
from lightning_modules.models.potential import ClusterModel, Potential
from lightning_modules.training.task import load_task, verify_checkpoint

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def local_checkpoint(path: Path, recorded: str = "") -> Path:
    """The checkpoint file ``path`` names (the first ``.ckpt`` of a folder), checked.

    ``recorded`` is the SHA-256 its training recorded, where known: a changed
    file is refused (:func:`~lightning_modules.training.task.verify_checkpoint`).
    """
    if path.is_dir():
        found = sorted(path.rglob("*.ckpt"))
        if not found:
            raise CheckpointNotFound(f"{path}: no .ckpt checkpoint inside")
        path = found[0]
    if not path.exists():
        raise CheckpointNotFound(f"{path}: no such checkpoint")
    verify_checkpoint(path, recorded, f"the checkpoint {path}")
    return path


def same_system(first: Atoms, second: Atoms) -> bool:
    """Exactly the same positions, numbers, cell, boundary conditions, charges and moments."""
    if len(first) != len(second) or not np.array_equal(first.pbc, second.pbc):
        return False
    if not np.array_equal(first.cell.array, second.cell.array):
        return False
    for name in all_changes:
        if name in ("cell", "pbc"):
            continue
        a, b = first.arrays.get(name), second.arrays.get(name)
        if a is None or b is None:
            if a is not b:
                return False
        elif not np.array_equal(a, b):
            return False
    return True


class PesweepCalculator(Calculator):
    """ASE calculator around a :class:`~lightning_modules.models.potential.Potential`."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(
        self,
        model: Potential,
        device: str | torch.device | None = None,
        dtype: str = "float32",
        compiled: bool = True,
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
        # the compiled model: float64 on the CPU only (its arithmetic is float64 NumPy)
        self.compiled = compiled and self.dtype == torch.float64 and self.device.type == "cpu"
        self._cluster_models: dict[bytes, ClusterModel | None] = {}

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        dtype: str = "float32",
        compiled: bool = True,
    ) -> PesweepCalculator:
        """Load a trained model from a checkpoint file, or a folder holding one.

        A registered or logged model (``models:/NAME@ALIAS``, ``runs:/ID/model``)
        is loaded with :func:`pesweep.load_potential`, which finds its checkpoint.
        """
        text = str(path)
        if "://" in text or text.startswith(("models:/", "runs:/")):
            raise CheckpointNotFound(
                f"{text} is an MLflow URI: load it with pesweep.load_potential({text!r})"
            )
        model = load_task(str(local_checkpoint(Path(text)))).model
        return cls(model, device=device, dtype=dtype, compiled=compiled)

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        """What changed since the last calculation; ``[]`` at once when nothing did.

        ASE asks this several times per MD step (every property read), and its own
        comparison (``numpy.isclose`` per array) took a quarter of an MD step of a
        31-atom cluster; an exact comparison answers the usual case, unchanged
        atoms, and any difference goes to ASE's (same answer, same tolerance).
        """
        if self.atoms is not None and same_system(self.atoms, atoms):
            return []
        return list(super().check_state(atoms, tol))

    def energies_forces(
        self, numbers: np.ndarray, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Energies (r,) in eV and forces (r, n, 3) in eV/A of ``r`` non-periodic structures
        of the same atoms, (r, n, 3) positions, in one model call (the MD check's replicas)."""
        self.refuse_unknown(numbers)
        cluster = self.cluster_model(numbers)
        if cluster is not None:
            return cluster.energies_forces(np.asarray(positions, dtype=np.float64))
        batch = replicas_to_batch(numbers, positions, self.model.cutoff, dtype=self.dtype)
        output = self.model({k: v.to(self.device) for k, v in batch.items()}, compute_forces=True)
        energies = output[keys.ENERGY].detach().cpu().numpy().astype(np.float64)
        forces = output[keys.FORCES].detach().cpu().numpy().astype(np.float64)
        return energies, forces.reshape(len(positions), len(numbers), 3)

    def cluster_model(self, numbers: np.ndarray) -> ClusterModel | None:
        """The model's compiled form for these atoms (made once per set of atoms), or None."""
        if not self.compiled:
            return None
        key = np.asarray(numbers, dtype=np.int64).tobytes()
        if key not in self._cluster_models:
            self._cluster_models[key] = self.model.cluster_model(np.asarray(numbers))
        return self._cluster_models[key]

    def refuse_unknown(self, numbers: np.ndarray) -> None:
        unknown = sorted({int(z) for z in numbers} - self.trained_elements)
        if unknown:
            raise ValueError(
                f"the model was not trained for atomic numbers {unknown}; it knows "
                f"{sorted(self.trained_elements)}"
            )

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | tuple[str, ...] = ("energy",),
        system_changes: list[str] = all_changes,
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        self.refuse_unknown(self.atoms.numbers)
        periodic = bool(self.atoms.pbc.any())
        cluster = None if periodic else self.cluster_model(self.atoms.numbers)
        if cluster is not None:
            energies, forces = cluster.energies_forces(self.atoms.positions[None])
            energy = float(energies[0])
            self.results = {"energy": energy, "free_energy": energy, "forces": forces[0]}
            return
        batch = atoms_to_batch(
            self.atoms.numbers,
            self.atoms.positions,
            self.model.cutoff,
            self.atoms.cell.array if periodic else None,
            self.atoms.pbc if periodic else None,
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
