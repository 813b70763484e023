"""Behler-Parrinello potential of ænet / ænet-PyTorch: one network per element on Chebyshev descriptors.

    E = sum_i (scale * NN_{Z_i}(normalise(G_i)) + shift) + sum_i E_ref(Z_i)

The descriptor G_i (:mod:`lightning_modules.models.descriptors`) is normalised per
element as ænet does: shift by the mean and scale by the inverse standard
deviation of each component over the training split (zero variance: scale
0), fitted by :meth:`AenetPotential.fit_to_data` and stored as buffers (so in
checkpoints). Hidden layers, widths and activation (tanh, sigmoid, linear,
smu, shifted_softplus) are parameters; the output layer is linear.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from ase.data import atomic_numbers, chemical_symbols
from torch import nn

from lightning_modules import keys
from lightning_modules.models.descriptors import ChebyshevDescriptor, ChebyshevSettings
from lightning_modules.models.nn import build_activation
from lightning_modules.models.potential import ModelSettings, Potential

if TYPE_CHECKING:  # the caches are built by lightning_modules.batching, which builds on the models
    from lightning_modules.batching.data_cache import DataCache
    from lightning_modules.batching.feature_cache import FeatureCache
    from lightning_modules.models.aenet_cluster import AenetClusterModel


def element_network(
    n_in: int, hidden: Sequence[int], activation: str, zero_output: bool = False
) -> nn.Sequential:
    """An MLP n_in -> hidden... -> 1 with ``activation`` after every hidden layer;
    ``zero_output`` starts the last layer's weights and bias at zero (output 0)."""
    layers: list[nn.Module] = []
    width = n_in
    for size in hidden:
        layers += [nn.Linear(width, size), build_activation(activation)]
        width = size
    output = nn.Linear(width, 1)
    if zero_output:
        nn.init.zeros_(output.weight)
        nn.init.zeros_(output.bias)
    layers.append(output)
    return nn.Sequential(*layers)


def species_numbers(species: Sequence[str | int]) -> tuple[int, ...]:
    """Atomic numbers of element symbols or numbers, in the given (ENV) order."""
    numbers = []
    for entry in species:
        if isinstance(entry, int) or str(entry).isdigit():
            numbers.append(int(entry))
        elif str(entry) in atomic_numbers:
            numbers.append(atomic_numbers[str(entry)])
        else:
            raise ValueError(f"species {entry!r} is not an element symbol")
    return tuple(numbers)


@dataclass(frozen=True)
class AenetSettings(ModelSettings):
    """ænet's hyperparameters: the descriptor's (orders, cutoffs in Angstrom) and the networks'."""

    species: tuple[str | int, ...] = ()
    radial_order: int = 10
    radial_cutoff: float = 6.0
    angular_order: int = 4
    angular_cutoff: float = 4.0
    hidden_layers: int = 2
    hidden_width: int = 5
    activation: str = "tanh"
    # the untrained model predicts the element references (and the residual shift) whatever
    # its descriptor and seed: every trial of a sweep starts from the same energies, so an
    # early rank (successive halving's first rung) compares learning, not starting points
    zero_output_layer: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", tuple(self.species))

    @property
    def descriptor(self) -> ChebyshevSettings:
        return ChebyshevSettings(
            species=species_numbers(self.species),
            radial_order=self.radial_order,
            radial_cutoff=self.radial_cutoff,
            angular_order=self.angular_order,
            angular_cutoff=self.angular_cutoff,
        )

    @property
    def cutoff(self) -> float:
        """The descriptor's own cutoff (:attr:`ChebyshevSettings.cutoff`)."""
        return self.descriptor.cutoff


class AenetPotential(Potential):
    """ænet-style atomic energy networks; ``species`` fixes the descriptor's ENV order."""

    settings_class = AenetSettings
    settings: AenetSettings
    species_index: torch.Tensor  # buffer
    feature_shift: torch.Tensor  # buffer
    feature_scale: torch.Tensor  # buffer

    def __init__(self, settings: AenetSettings) -> None:
        super().__init__(settings)
        if not settings.species:
            raise ValueError("aenet needs species in ENV order, e.g. species: [Ti, O]")
        descriptor = settings.descriptor
        numbers = descriptor.species
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"species {list(settings.species)} contains duplicates")
        self.descriptor = ChebyshevDescriptor(descriptor)
        length = descriptor.length
        hidden = [settings.hidden_width] * settings.hidden_layers
        self.networks = nn.ModuleList(
            element_network(length, hidden, settings.activation, settings.zero_output_layer)
            for _ in numbers
        )
        species_index = torch.full((119,), -1, dtype=torch.long)
        for index, z in enumerate(numbers):
            species_index[z] = index
        self.register_buffer("species_index", species_index)
        self.register_buffer("feature_shift", torch.zeros(len(numbers), length))
        self.register_buffer("feature_scale", torch.ones(len(numbers), length))

    @property
    def species_symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.descriptor.settings.species]

    def supported_elements(self) -> set[int]:
        return set(self.descriptor.settings.species)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "representation": [
                p
                for network in self.networks
                for layer in list(cast(nn.Sequential, network))[:-1]
                for p in layer.parameters()
            ],
            "head": [
                p
                for network in self.networks
                for p in cast(nn.Sequential, network)[-1].parameters()
            ],
        }

    def precompute(self, cache: DataCache, with_gradients: np.ndarray) -> FeatureCache:
        """Descriptors of all structures, Jacobians of those whose forces are needed (cached)."""
        return cache.features(self.descriptor, with_gradients)

    def descriptors(self, batch: dict[str, torch.Tensor], vectors: torch.Tensor) -> torch.Tensor:
        """Raw descriptors of every atom, [n_atoms, length]: cached when the batch has them.

        Cached ones are linearised around the batch positions, G + J (R - R.detach()),
        which has the cached value and the exact gradient (zero for atoms without J).
        """
        if keys.DESCRIPTOR not in batch:
            return self.descriptor(batch[keys.Z], vectors, batch[keys.IDX_I], batch[keys.IDX_J])
        features = batch[keys.DESCRIPTOR]
        positions = batch[keys.R]
        if keys.JACOBIAN not in batch or not positions.requires_grad:
            return features
        displacement = positions - positions.detach()  # zero, carries d/dR
        length = features.shape[1]
        changes, rows = [], []
        jacobians = batch[keys.JACOBIAN]  # one [n * length, n * 3] matrix per structure
        for (start, n), jacobian in zip(
            batch[keys.JACOBIAN_BLOCKS].tolist(), jacobians, strict=False
        ):
            moved = displacement[start : start + n].reshape(n * 3)
            changes.append((jacobian @ moved).view(n, length))  # one matvec per structure
            rows.append(torch.arange(start, start + n, device=features.device))
        return features.index_add(0, torch.cat(rows), torch.cat(changes))

    @torch.no_grad()
    def fit_to_data(self, batches: Iterable[dict[str, torch.Tensor]]) -> None:
        """Per-element mean and inverse standard deviation of the descriptors of ``batches``."""
        sums = torch.zeros_like(self.feature_shift, dtype=torch.float64)
        squares = torch.zeros_like(sums)
        counts = torch.zeros(len(self.networks), dtype=torch.float64)
        for batch in batches:
            positions = batch[keys.R]
            vectors = (
                positions[batch[keys.IDX_J]] - positions[batch[keys.IDX_I]] + batch[keys.PAIR_SHIFT]
            )
            features = self.descriptors(batch, vectors).double()
            species = self.species_index[batch[keys.Z]]
            for index in range(len(self.networks)):
                rows = features[species == index]
                sums[index] += rows.sum(0)
                squares[index] += (rows**2).sum(0)
                counts[index] += rows.shape[0]
        counts = counts.clamp(min=1.0)[:, None]
        mean = sums / counts
        std = (squares / counts - mean**2).clamp(min=0.0).sqrt()
        scale = torch.where(std > 1e-10, 1.0 / std.clamp(min=1e-10), torch.zeros_like(std))
        self.feature_shift.copy_(mean.to(self.feature_shift.dtype))
        self.feature_scale.copy_(scale.to(self.feature_scale.dtype))

    def atomic_outputs(self, batch: dict[str, torch.Tensor], vectors: torch.Tensor) -> torch.Tensor:
        features = self.descriptors(batch, vectors)  # [n_atoms, length]
        species = self.species_index[batch[keys.Z]]  # [n_atoms]
        normalised = (features - self.feature_shift[species]) * self.feature_scale[species]
        outputs = torch.zeros(features.shape[0], dtype=features.dtype, device=features.device)
        for index, network in enumerate(self.networks):
            rows = torch.nonzero(species == index).flatten()
            if rows.numel():
                outputs = outputs.index_put((rows,), network(normalised[rows]).squeeze(-1))
        return outputs  # [n_atoms]

    @torch.no_grad()
    def cluster_model(self, numbers: np.ndarray) -> AenetClusterModel | None:
        """This model fixed to one non-periodic structure's atoms, compiled
        (:mod:`.aenet_cluster`: the MD check's step); None where an activation has no
        compiled form. Unknown elements are the caller's to refuse first."""
        # imported here: numba costs half a second, and only MD checks need it
        from lightning_modules.models.aenet_cluster import (
            Activation,
            AenetClusterModel,
            ElementNetwork,
            activation_pair,
        )

        numbers = np.asarray(numbers, dtype=np.int64)
        networks = []
        for network in self.networks:
            modules = list(cast(nn.Sequential, network))  # linear, activation, ..., linear
            activations = [
                activation_pair(
                    self.settings.activation,
                    alpha=float(getattr(module, "alpha", 0.0)),
                    mu=float(getattr(module, "mu", 0.0)),
                )
                for module in modules[1::2]
            ]
            if any(pair is None for pair in activations):
                return None
            layers = [
                (m.weight.double().cpu().numpy(), m.bias.double().cpu().numpy())
                for m in cast(list[nn.Linear], modules[::2])
            ]
            networks.append(ElementNetwork(layers, cast(list[Activation], activations)))
        species = self.species_index.cpu().numpy()[numbers]
        settings = self.descriptor.settings
        spins = self.descriptor.spin_of_element.double().cpu().numpy()[numbers]
        repulsion = None
        if self.core_repulsion is not None:
            radii = self.core_repulsion.radii.double().cpu().numpy()[numbers]
            repulsion = (self.core_repulsion.onset, radii)
        return AenetClusterModel(
            spins=np.ascontiguousarray(spins),
            charges=numbers.astype(np.float64),
            radial_cutoff=float(settings.radial_cutoff),
            radial_order=int(settings.radial_order),
            angular_cutoff=float(settings.angular_cutoff),
            angular_order=int(settings.angular_order),
            weighted=len(settings.species) > 1,
            feature_shift=self.feature_shift.double().cpu().numpy()[species],
            feature_scale=self.feature_scale.double().cpu().numpy()[species],
            networks=networks,
            rows=[np.flatnonzero(species == index) for index in range(len(self.networks))],
            energy_scale=float(self.energy_scale),
            energy_shift=float(self.energy_shift),
            reference=float(self.element_energy.cpu().numpy()[numbers].sum()),
            repulsion=repulsion,
        )
