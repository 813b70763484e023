"""Activations, radial basis, cutoff and scatter softmax against their formulas."""

from __future__ import annotations

import math

import torch

from lightning_modules.models.nn import (
    CosineCutoff,
    GaussianRBF,
    SmoothMaximumUnit,
    scatter_softmax,
    shifted_softplus,
)


def test_smu_matches_its_formula() -> None:
    x = torch.linspace(-4, 4, 41, dtype=torch.float64)
    smu = SmoothMaximumUnit(alpha=0.01, mu=2.5)
    expected = [
        ((1 + 0.01) * v + (1 - 0.01) * v * math.erf(2.5 * (1 - 0.01) * v)) / 2 for v in x.tolist()
    ]
    torch.testing.assert_close(smu(x), torch.tensor(expected, dtype=torch.float64))
    assert smu(torch.tensor(10.0)).item() > 9.99  # approaches max(x, a x)
    assert abs(smu(torch.tensor(-10.0)).item() + 0.1) < 1e-3


def test_learnable_smu_mu_is_a_parameter() -> None:
    smu = SmoothMaximumUnit(learnable_mu=True)
    assert [name for name, _ in smu.named_parameters()] == ["mu"]
    smu(torch.linspace(-1, 1, 5)).sum().backward()
    assert smu.mu.grad is not None and smu.mu.grad.abs() > 0


def test_shifted_softplus_is_zero_at_origin() -> None:
    assert shifted_softplus(torch.tensor(0.0)).abs() < 1e-7
    assert math.isclose(
        shifted_softplus(torch.tensor(2.0)).item(),
        math.log(1 + math.e**2) - math.log(2),
        rel_tol=1e-6,
    )


def test_cosine_cutoff_and_rbf() -> None:
    cutoff = CosineCutoff(5.0)
    r = torch.tensor([0.0, 2.5, 4.999, 5.0, 6.0], dtype=torch.float64)
    torch.testing.assert_close(cutoff(r)[:2], torch.tensor([1.0, 0.5], dtype=torch.float64))
    assert cutoff(r)[2] < 1e-6 and cutoff(r)[3] == 0 and cutoff(r)[4] == 0
    rbf = GaussianRBF(n_rbf=6, cutoff=5.0)
    values = rbf(torch.tensor([2.0]))
    assert values.shape == (1, 6)
    assert values.argmax().item() == 2  # centres 0, 1, 2, ...


def test_rbf_has_no_subnormal_values_and_zeroes_only_what_rounding_hides() -> None:
    """The benchmark's expansion (40 Gaussians to 6 A) of every distance up to the cutoff:
    no subnormal number (they slow CPU matrix products several-fold), zeros only below
    eps**2, and the rest exactly the formula's values."""
    rbf = GaussianRBF(n_rbf=40, cutoff=6.0)
    distances = torch.linspace(0.0, 6.0, 2001)
    values = rbf(distances)
    tiny = torch.finfo(torch.float32).tiny
    assert not ((values != 0) & (values.abs() < tiny)).any()
    exact = torch.exp(-0.5 * ((distances[:, None] - rbf.centers) / rbf.widths) ** 2)
    kept = exact >= torch.finfo(torch.float32).eps ** 2
    assert kept.any(dim=1).all() and (~kept).any()
    assert torch.equal(values[kept], exact[kept]) and (values[~kept] == 0).all()
    assert values.max(dim=1).values.min() > 0.88  # the nearest Gaussian of any distance


class _ExpArguments(torch.overrides.TorchFunctionMode):
    """Records the smallest argument every ``torch.exp`` call receives."""

    def __init__(self) -> None:
        super().__init__()
        self.smallest: list[float] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func in (torch.exp, torch.Tensor.exp):
            self.smallest.append(float(args[0].min()))
        return func(*args, **(kwargs or {}))


def test_rbf_never_takes_exp_into_underflow() -> None:
    """exp of an exponent far below log(eps**2) takes the CPU's slow underflow path
    (40x slower per element on a Xeon here); the expansion clamps the exponent first,
    and its values and gradients stay those of the formula."""
    rbf = GaussianRBF(n_rbf=40, cutoff=6.0).double()
    distances = torch.linspace(0.01, 6.0, 300, dtype=torch.float64, requires_grad=True)
    with _ExpArguments() as recorded:
        values = rbf(distances)
    assert recorded.smallest and min(recorded.smallest) >= 2 * math.log(
        torch.finfo(torch.float64).eps
    )
    assert values.max(dim=1).values.min() > 0.88
    assert torch.autograd.gradcheck(rbf, (distances[::10].detach().requires_grad_(),))


def test_shifted_softplus_has_softplus_gradients_to_second_order() -> None:
    """The shift is subtracted in place; gradients and their gradients (force training)
    stay those of softplus."""
    x = torch.linspace(-15.0, 15.0, 61, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(shifted_softplus, (x,))
    assert torch.autograd.gradgradcheck(shifted_softplus, (x,))
    (gradient,) = torch.autograd.grad(shifted_softplus(x).sum(), x)
    torch.testing.assert_close(gradient, torch.sigmoid(x.detach()))


def test_weighted_scatter_softmax_normalises_per_group() -> None:
    logits = torch.tensor([[0.1], [2.0], [-1.0], [0.5], [0.0]])
    index = torch.tensor([0, 0, 0, 1, 1])
    weights = torch.tensor([1.0, 0.5, 1.0, 1.0, 0.0])
    alpha = scatter_softmax(logits, index, 2, weights=weights)
    assert torch.allclose(alpha[:3].sum(), torch.tensor(1.0))
    assert torch.allclose(alpha[3:].sum(), torch.tensor(1.0))
    assert alpha[4].item() == 0.0  # weight 0: a neighbour at the cutoff has no say
    expected = torch.tensor([math.exp(0.1), 0.5 * math.exp(2.0), math.exp(-1.0)])
    torch.testing.assert_close(alpha[:3, 0], expected / expected.sum())


def test_schnet_dense_layers_start_as_schnetpacks() -> None:
    """Xavier-uniform weights and zero biases, as schnetpack's Dense (not torch's Linear default)."""
    from torch import nn

    from lightning_modules.models.schnet import SchNet, SchNetSettings

    torch.manual_seed(0)
    model = SchNet(SchNetSettings(n_atom_basis=128, n_interactions=2, n_rbf=40, attention=True))
    layers = [layer for layer in model.modules() if isinstance(layer, nn.Linear)]
    assert len(layers) == 2 * 6 + 2  # in2f, 2 filter, 2 output layers, attention; readout
    for layer in layers:
        fan_out, fan_in = layer.weight.shape
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert layer.weight.abs().max().item() <= bound
        if layer.weight.numel() >= 1000:  # enough draws to see the spread of U(-bound, bound)
            assert abs(layer.weight.std().item() / (bound / math.sqrt(3.0)) - 1.0) < 0.05
        if layer.bias is not None:
            assert torch.count_nonzero(layer.bias) == 0
    assert model.embedding.weight[1:].std().item() > 0.9  # the embedding keeps N(0, 1)
