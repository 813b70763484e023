"""The IIA block is trained (gets gradients, changes) and config switches build it."""

from __future__ import annotations

import torch

from lightning_modules import keys
from lightning_modules.batching.batches import atoms_to_batch
from lightning_modules.data.emt_data import emt_clusters
from lightning_modules.models.attention import InteratomicAttention
from lightning_modules.models.nn import ShiftedSoftplus, SmoothMaximumUnit
from lightning_modules.models.registry import build_model


def test_switches_build_the_right_modules() -> None:
    plain = build_model("schnet", dict(n_atom_basis=16, n_interactions=3, n_rbf=8))
    assert len(plain.attentions) == 0
    assert not any(isinstance(m, SmoothMaximumUnit) for m in plain.modules())
    assert any(isinstance(m, ShiftedSoftplus) for m in plain.modules())
    iia = build_model(
        "schnet", dict(n_atom_basis=16, n_interactions=3, n_rbf=8, attention=True, activation="smu")
    )
    assert len(iia.attentions) == 3
    assert all(isinstance(m, InteratomicAttention) for m in iia.attentions)
    assert any(isinstance(m, SmoothMaximumUnit) for m in iia.modules())
    assert not any(isinstance(m, ShiftedSoftplus) for m in iia.modules())


def test_attention_parameters_get_gradients_and_change() -> None:
    torch.manual_seed(0)
    model = build_model(
        "schnet",
        dict(
            n_atom_basis=16,
            n_interactions=2,
            n_rbf=8,
            cutoff=4.0,
            attention=True,
            attention_heads=2,
        ),
    )
    atoms = emt_clusters(n_structures=1, seed=5)[0]
    batch = atoms_to_batch(atoms.numbers, atoms.positions, 4.0)
    before = {n: p.detach().clone() for n, p in model.attentions.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    energy = model(batch)[keys.ENERGY]
    ((energy - 1.0) ** 2).sum().backward()
    for name, parameter in model.attentions.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    optimizer.step()
    for name, parameter in model.attentions.named_parameters():
        assert not torch.equal(parameter.detach(), before[name]), name
