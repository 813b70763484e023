"""Scatter reductions over index tensors (sums and softmax over neighbour sets)."""

from __future__ import annotations

import torch


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Sum rows of ``src`` ([n, ...]) into ``dim_size`` bins given by ``index`` ([n])."""
    out = torch.zeros((dim_size, *src.shape[1:]), device=src.device, dtype=src.dtype)
    return out.index_add_(0, index, src)


def scatter_softmax(
    logits: torch.Tensor,
    index: torch.Tensor,
    dim_size: int,
    weights: torch.Tensor | None = None,
    eps: float = 1e-12,
) -> torch.Tensor:
    """Softmax of ``logits`` ([n, heads]) within the groups given by ``index`` ([n]).

    With ``weights`` ([n]), each term is multiplied by its weight before
    normalising: w_k e^(l_k) / sum_g w_g e^(l_g). With a smooth cutoff as the
    weight, neighbours fade out continuously as they leave the cutoff sphere.
    """
    group_max = torch.full(
        (dim_size, *logits.shape[1:]), float("-inf"), device=logits.device, dtype=logits.dtype
    )
    group_max = group_max.scatter_reduce(
        0, index[:, None].expand_as(logits), logits.detach(), reduce="amax", include_self=True
    )
    exp = torch.exp(logits - group_max[index])
    if weights is not None:
        exp = exp * weights[:, None]
    denominator = scatter_sum(exp, index, dim_size)[index]
    return exp / (denominator + eps)
