"""SchNet (Schütt et al. 2018) with the SchNet_IIA improvements as switches.

* ``attention: true`` adds the interatomic-interaction attention block
  (:mod:`lightning_modules.models.attention`) to every interaction:
  x_i' = x_i + conv_i + v_i;
* ``activation: smu`` replaces shifted softplus by the smooth maximum unit.

Every dense layer starts as in schnetpack, SchNet's reference implementation
(Xavier-uniform weights, zero biases); the embedding is PyTorch's N(0, 1).

Hyperparameters are those of the SchNet_IIA study (Table 1). ``n_embedding``
is the number of rows of the nuclear embedding table, i.e. the largest
atomic number the model can take plus one. The study searched 100..500;
rows beyond the elements present are never used, so it changes the
parameter count, not the function the model can represent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from lightning_modules import keys
from lightning_modules.models.attention import InteratomicAttention
from lightning_modules.models.nn import (
    CosineCutoff,
    GaussianRBF,
    build_activation,
    dense_layers_like_schnetpack_,
    scatter_sum,
)
from lightning_modules.models.potential import ModelSettings, Potential


class SchNetInteraction(nn.Module):
    """Continuous-filter convolution conv_i = sum_j (W_in x_j) * W(r_ij) f_c(r_ij), then a dense net.

    ``expanded_distances`` and ``cutoff_weights`` cover the first half of the
    pairs (each unordered pair once); the filters W(r_ij) f_c(r_ij) = W(r_ji)
    f_c(r_ji) are computed there and repeated for the reversed half.
    """

    def __init__(
        self,
        n_atom_basis: int,
        n_rbf: int,
        n_filters: int,
        make_activation: Callable[[], nn.Module],
    ) -> None:
        super().__init__()
        self.in2f = nn.Linear(n_atom_basis, n_filters, bias=False)
        self.filter_network = nn.Sequential(
            nn.Linear(n_rbf, n_filters), make_activation(), nn.Linear(n_filters, n_filters)
        )
        self.f2out = nn.Sequential(
            nn.Linear(n_filters, n_atom_basis),
            make_activation(),
            nn.Linear(n_atom_basis, n_atom_basis),
        )

    def forward(
        self,
        x: torch.Tensor,
        expanded_distances: torch.Tensor,
        cutoff_weights: torch.Tensor,
        idx_i: torch.Tensor,
        idx_j: torch.Tensor,
    ) -> torch.Tensor:
        filters = self.filter_network(expanded_distances) * cutoff_weights[:, None]  # [n_half, F]
        # index_select, not x[idx_j]: its backward is an index_add, not a slower index_put
        neighbours = self.in2f(x).index_select(0, idx_j)  # [n_pairs, F]
        # both halves of the pairs times the same filters, broadcast rather than copied
        messages = (neighbours.view(2, *filters.shape) * filters).view_as(neighbours)
        convolved = scatter_sum(messages, idx_i, x.shape[0])  # [n_atoms, F]
        return self.f2out(convolved)  # [n_atoms, n_atom_basis]


@dataclass(frozen=True)
class SchNetSettings(ModelSettings):
    """SchNet's hyperparameters (SchNet_IIA Table 1 names); ``cutoff`` in Angstrom."""

    n_atom_basis: int = 128
    n_interactions: int = 3
    n_rbf: int = 20
    cutoff: float = 5.0  # type: ignore[assignment]  # a field here, a property on the base
    n_embedding: int = 100
    n_filters: int | None = None
    activation: str = "shifted_softplus"
    attention: bool = False
    attention_heads: int = 1
    smu_mu: float = 2.5
    learnable_smu: bool = False


class SchNet(Potential):
    """SchNet energy model; ``attention``/``activation`` switch on the SchNet_IIA variants."""

    settings_class = SchNetSettings
    settings: SchNetSettings

    def __init__(self, settings: SchNetSettings | None = None) -> None:
        settings = settings or SchNetSettings()
        super().__init__(settings)
        if settings.activation == "smu":
            make_activation = partial(
                build_activation,
                settings.activation,
                mu=settings.smu_mu,
                learnable_mu=settings.learnable_smu,
            )
        else:
            make_activation = partial(build_activation, settings.activation)
        width = settings.n_atom_basis
        n_filters = settings.n_filters or width
        self.embedding = nn.Embedding(settings.n_embedding, width, padding_idx=0)
        self.radial_basis = GaussianRBF(settings.n_rbf, settings.cutoff)
        self.cutoff_function = CosineCutoff(settings.cutoff)
        self.interactions = nn.ModuleList(
            SchNetInteraction(width, settings.n_rbf, n_filters, make_activation)
            for _ in range(settings.n_interactions)
        )
        self.attentions = nn.ModuleList(
            InteratomicAttention(width, settings.attention_heads, make_activation)
            for _ in range(settings.n_interactions if settings.attention else 0)
        )
        self.readout = nn.Sequential(
            nn.Linear(width, width // 2),
            make_activation(),
            nn.Linear(width // 2, 1),
        )
        dense_layers_like_schnetpack_(self)

    def supported_elements(self) -> set[int]:
        return set(range(1, self.settings.n_embedding))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        readout = list(self.readout)
        return {
            "embedding": list(self.embedding.parameters()),
            "representation": [*self.interactions.parameters(), *self.attentions.parameters()],
            "readout": [p for layer in readout[:-1] for p in layer.parameters()],
            "head": list(readout[-1].parameters()),
        }

    def atomic_outputs(self, batch: dict[str, torch.Tensor], vectors: torch.Tensor) -> torch.Tensor:
        idx_i, idx_j = batch[keys.IDX_I], batch[keys.IDX_J]
        # pair order contract (keys.py): the second half of the pairs reverses the first,
        # so distance-only terms are computed once per unordered pair and repeated
        n_half = idx_i.shape[0] // 2
        distances = torch.linalg.vector_norm(vectors[:n_half], dim=-1)  # [n_half]
        expanded = self.radial_basis(distances)  # [n_half, n_rbf]
        cutoff_weights = self.cutoff_function(distances)  # [n_half]
        all_cutoff_weights = cutoff_weights.repeat(2)  # [n_pairs], for the attention
        x = self.embedding(batch[keys.Z])  # [n_atoms, n_atom_basis]
        attentions: list[nn.Module | None] = list(self.attentions) or [None] * len(
            self.interactions
        )
        for interaction, attention in zip(self.interactions, attentions, strict=False):
            update = interaction(x, expanded, cutoff_weights, idx_i, idx_j)
            if attention is not None:
                update = update + attention(x, idx_i, idx_j, all_cutoff_weights)
            x = x + update
        return self.readout(x).squeeze(-1)  # [n_atoms]
