"""Interatomic-interaction attention (IIA) of SchNet_IIA.

A graph-attention term (GAT, Velickovic et al. 2018) over the neighbours N_i
of each atom within the cutoff, plus the atom itself (GAT's self-loop),
added residually beside SchNet's continuous-filter convolution in every
interaction block:

    h_i = W x_i                                   (shared linear map, per head)
    e_ij = LeakyReLU(a^T [h_i || h_j])
    alpha_ij = w_ij exp(e_ij) / sum_k w_ik exp(e_ik),  j, k in N_i + {i}
    w_ij = f_c(r_ij) for neighbours, w_ii = 1
    v_i = sigma(mean_heads sum_j alpha_ij h_j)

Differences from the published code, on purpose: the layer is built once and
trained (the original builds a fresh, untrained layer inside every forward
pass and pins it to ``cuda:0``), it names no device, and the softmax is
weighted by the cosine cutoff f_c so that the energy stays smooth when a
neighbour crosses the cutoff sphere (a plain softmax jumps there; the
self-loop keeps the weights of the last neighbour fading to zero instead of
being renormalised to one).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lightning_modules.models.nn import ShiftedSoftplus, scatter_softmax, scatter_sum


class InteratomicAttention(nn.Module):
    """Multi-head graph attention over neighbour pairs; returns an update [n_atoms, n_atom_basis]."""

    def __init__(
        self,
        n_atom_basis: int,
        n_heads: int = 1,
        make_activation: Callable[[], nn.Module] = ShiftedSoftplus,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.n_atom_basis = n_atom_basis
        self.linear = nn.Linear(n_atom_basis, n_heads * n_atom_basis, bias=False)
        self.attention_source = nn.Parameter(torch.empty(n_heads, n_atom_basis))
        self.attention_target = nn.Parameter(torch.empty(n_heads, n_atom_basis))
        self.leaky_relu = nn.LeakyReLU(negative_slope)
        self.activation = make_activation()
        nn.init.xavier_uniform_(self.attention_source)
        nn.init.xavier_uniform_(self.attention_target)

    def forward(
        self,
        x: torch.Tensor,
        idx_i: torch.Tensor,
        idx_j: torch.Tensor,
        cutoff_weights: torch.Tensor,
    ) -> torch.Tensor:
        n_atoms = x.shape[0]
        self_loop = torch.arange(n_atoms, device=x.device, dtype=idx_i.dtype)
        idx_i = torch.cat([idx_i, self_loop])  # [n_pairs + n_atoms]
        idx_j = torch.cat([idx_j, self_loop])
        cutoff_weights = torch.cat([cutoff_weights, torch.ones_like(x[:, 0])])
        h = self.linear(x).view(n_atoms, self.n_heads, self.n_atom_basis)  # [n_atoms, heads, F]
        score_source = (h * self.attention_source).sum(-1)  # [n_atoms, heads]
        score_target = (h * self.attention_target).sum(-1)  # [n_atoms, heads]
        logits = self.leaky_relu(score_source[idx_i] + score_target[idx_j])  # [n_pairs, heads]
        alpha = scatter_softmax(logits, idx_i, n_atoms, weights=cutoff_weights)  # [n_pairs, heads]
        messages = alpha[..., None] * h[idx_j]  # [n_pairs, heads, F]
        update = scatter_sum(messages, idx_i, n_atoms).mean(dim=1)  # [n_atoms, F]
        return self.activation(update)
