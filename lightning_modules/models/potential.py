"""Base class of all potentials: atomic outputs -> total energy (eV) and forces (eV/A).

A subclass implements :meth:`Potential.atomic_outputs`, the standardised
energy contribution y_i of every atom. The base class turns them into

    E = sum_i (scale * y_i + shift) + sum_i E_ref[Z_i] + sum_{i<j} E_core(r_ij)   (eV)
    F = -dE/dR                                                             (eV/Angstrom)

where E_core is the switched ZBL repulsion of ``core_repulsion`` (none by default).

The element references are a float64 buffer and the reference sum is added
in float64: total energies of all-electron data (about -78,000 eV for SeB20)
would lose 0.01 eV to float32 rounding.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import torch
from torch import nn

from lightning_modules import keys
from lightning_modules.data.references import EnergyReference
from lightning_modules.models.nn import scatter_sum
from lightning_modules.models.repulsion import CoreRepulsion, check_onset

MAX_ATOMIC_NUMBER = 118

SettingsT = TypeVar("SettingsT", bound="ModelSettings")


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """A model's hyperparameters with their defaults: the one source of truth for each.

    Subclasses are frozen dataclasses; :attr:`cutoff` (Angstrom) is also the
    neighbour-list cutoff of every data set the model sees. ``core_repulsion``,
    every model's: 0 (none) or the onset, in sums of covalent radii, of a ZBL
    repulsion added to the model's energy (:mod:`lightning_modules.models.repulsion`).
    """

    core_repulsion: float = 0.0

    # settings that hold no weights: a fine-tuning may change them (the rest are the checkpoint's)
    WEIGHTLESS: ClassVar[tuple[str, ...]] = ("core_repulsion",)

    @property
    def cutoff(self) -> float:
        raise NotImplementedError

    @classmethod
    def names(cls) -> set[str]:
        """The keys a config of this model may hold."""
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_config(cls: type[SettingsT], config: dict[str, Any]) -> SettingsT:
        """Settings from a plain dict (e.g. YAML): unknown keys and bad values are ValueErrors."""
        unknown = set(config) - cls.names()
        if unknown:
            raise ValueError(
                f"takes no parameter(s) {', '.join(sorted(unknown))}; "
                f"it takes {', '.join(sorted(cls.names()))}"
            )
        values = {}
        for field in dataclasses.fields(cls):
            if field.name not in config:
                continue
            value = config[field.name]
            kind = type(field.default)
            if kind in (int, float) and not isinstance(value, bool):
                try:
                    value = kind(value)
                except (TypeError, ValueError) as error:
                    raise ValueError(f"{field.name}={value!r} is not a number") from error
            values[field.name] = value
        check_onset(values.get("core_repulsion", 0.0))
        return cls(**values)


class ClusterModel(Protocol):
    """A model fixed to one non-periodic structure's atoms, evaluated outside PyTorch (float64)."""

    def energies_forces(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energies (r,) in eV and forces (r, n, 3) in eV/A of (r, n, 3) positions."""
        ...


class Potential(nn.Module):
    """Energy model of atomic structures built from its :class:`ModelSettings`.

    Subclasses name their ``settings_class`` and define ``atomic_outputs``.
    """

    settings_class: ClassVar[type[ModelSettings]]

    element_energy: torch.Tensor  # buffer
    energy_shift: torch.Tensor  # buffer
    energy_scale: torch.Tensor  # buffer

    def __init__(self, settings: ModelSettings) -> None:
        super().__init__()
        self.settings = settings
        self.register_buffer(
            "element_energy", torch.zeros(MAX_ATOMIC_NUMBER + 1, dtype=torch.float64)
        )
        self.register_buffer("energy_shift", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("energy_scale", torch.tensor(1.0, dtype=torch.float64))
        self.core_repulsion = (
            CoreRepulsion(settings.core_repulsion) if settings.core_repulsion else None
        )

    def set_energy_reference(self, reference: EnergyReference) -> None:
        """Install element reference energies (eV) and the residual shift/scale (eV/atom)."""
        element_energy = torch.zeros_like(self.element_energy)
        for z, energy in reference.element_energy.items():
            element_energy[int(z)] = energy
        self.element_energy.copy_(element_energy)
        self.energy_shift.fill_(reference.shift)
        self.energy_scale.fill_(reference.scale)

    def energy_reference(self) -> EnergyReference:
        """The installed references (elements with a non-zero reference only)."""
        values = self.element_energy.detach().cpu()
        return EnergyReference(
            element_energy={int(z): float(values[z]) for z in torch.nonzero(values).flatten()},
            shift=float(self.energy_shift),
            scale=float(self.energy_scale),
        )

    @property
    def cutoff(self) -> float:
        """Neighbour-list cutoff (Angstrom): the settings' own."""
        return self.settings.cutoff

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part, input to output: ``embedding``, ``representation``, ``head``...

        Fine-tuning strategies freeze parts by these names.
        """
        return {"head": list(self.parameters())}

    def precompute(self, cache: Any, with_gradients: Any) -> Any:
        """Cached per-structure inputs (e.g. descriptors) of a data set, or None (the default).

        ``cache`` is the data set's :class:`~lightning_modules.batching.data_cache.DataCache`.

        ``with_gradients`` [n_structures] bool marks structures whose forces are needed.
        """
        return None

    def fit_to_data(self, batches: Iterable[dict[str, torch.Tensor]]) -> None:
        """Fit data-dependent buffers (e.g. descriptor normalisation) on training batches."""

    def cluster_model(self, numbers: np.ndarray) -> ClusterModel | None:
        """This model fixed to the atoms ``numbers`` of non-periodic structures, compiled
        for the MD check's many small steps; None (the default) where there is none."""
        return None

    def supported_elements(self) -> set[int] | None:
        """Atomic numbers the model can take, or None when any element is accepted."""
        return None

    @abstractmethod
    def atomic_outputs(self, batch: dict[str, torch.Tensor], vectors: torch.Tensor) -> torch.Tensor:
        """Standardised per-atom energies [n_atoms] from the batch and pair vectors [n_pairs, 3]."""

    def forward(
        self,
        batch: dict[str, torch.Tensor],
        compute_forces: bool = False,
        create_graph: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Energies [n_structures] (eV, float64) and, if asked, forces [n_atoms, 3] (eV/A)."""
        positions = batch[keys.R]
        if compute_forces and not positions.requires_grad:
            positions = positions.detach().requires_grad_(True)
        vectors = (
            positions[batch[keys.IDX_J]] - positions[batch[keys.IDX_I]] + batch[keys.PAIR_SHIFT]
        )  # [n_pairs, 3]
        inputs = dict(batch)
        inputs[keys.R] = positions
        outputs = self.atomic_outputs(inputs, vectors)  # [n_atoms]
        n_structures = batch[keys.N_ATOMS].shape[0]
        residual = scatter_sum(outputs, batch[keys.IDX_M], n_structures)  # [n_structures]
        reference = scatter_sum(
            self.element_energy[batch[keys.Z]], batch[keys.IDX_M], n_structures
        )  # [n_structures] float64
        n_atoms = batch[keys.N_ATOMS].to(torch.float64)
        energy = (
            residual.to(torch.float64) * self.energy_scale + self.energy_shift * n_atoms + reference
        )
        differentiated = residual.sum() * self.energy_scale.to(residual.dtype)
        if self.core_repulsion is not None:
            pairs = self.core_repulsion(
                vectors.norm(dim=-1),
                batch[keys.Z][batch[keys.IDX_I]],
                batch[keys.Z][batch[keys.IDX_J]],
            )  # [n_pairs]; every pair is listed both ways
            repulsion = 0.5 * scatter_sum(
                pairs, batch[keys.IDX_M][batch[keys.IDX_I]], n_structures
            )  # [n_structures]
            energy = energy + repulsion.to(torch.float64)
            differentiated = differentiated + repulsion.sum().to(differentiated.dtype)
        result = {keys.ENERGY: energy}
        if compute_forces:
            gradient = torch.autograd.grad(differentiated, positions, create_graph=create_graph)[0]
            result[keys.FORCES] = -gradient
        return result
