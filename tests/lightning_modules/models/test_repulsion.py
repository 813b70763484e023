"""The ZBL core repulsion: its physics, its switch, and a model that carries it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ase.data import covalent_radii

from lightning_modules import keys
from lightning_modules.batching.batches import atoms_to_batch
from lightning_modules.models.nn_ascii import ExportError, export_nn_ascii
from lightning_modules.models.registry import build_model
from lightning_modules.models.repulsion import (
    COULOMB_EV_ANGSTROM,
    CoreRepulsion,
    onset_switch,
    zbl_energy,
)
from lightning_modules.training.config import make_config
from lightning_modules.training.pretrained import TransferError, task_from_pretrained
from lightning_modules.training.run import train
from lightning_modules.training.task import load_task

AENET = dict(
    species=["H", "O", "Cu"],
    radial_order=6,
    radial_cutoff=4.0,
    angular_order=3,
    angular_cutoff=3.5,
    hidden_layers=2,
    hidden_width=6,
)


def model_with(core_repulsion: float) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("aenet", {**AENET, "core_repulsion": core_repulsion}).double()
    return model.eval()


def energy_and_forces(model, numbers, positions):
    batch = atoms_to_batch(
        np.array(numbers), np.array(positions, dtype=float), model.cutoff, dtype=torch.float64
    )
    out = model(batch, compute_forces=True)
    return out[keys.ENERGY].detach(), out[keys.FORCES].detach()


def test_zbl_is_bare_coulomb_at_contact_and_screened_beyond() -> None:
    z_cu, z_h = torch.tensor([29]), torch.tensor([1])
    tiny = torch.tensor([1e-4], dtype=torch.float64)
    bare = COULOMB_EV_ANGSTROM * 29 / 1e-4
    assert zbl_energy(tiny, z_cu, z_h).item() == pytest.approx(bare, rel=1e-2)
    distances = torch.linspace(0.3, 3.0, 50, dtype=torch.float64)
    energies = zbl_energy(distances, z_cu.expand(50), z_h.expand(50))
    assert bool((energies.diff() < 0).all())  # purely repulsive
    assert energies[-1].item() < 1e-3 * COULOMB_EV_ANGSTROM * 29 / 3.0  # screened


def test_the_switch_is_one_inside_zero_outside_and_smooth() -> None:
    inner, outer = torch.tensor(1.0), torch.tensor(1.5)
    r = torch.tensor([0.5, 1.0, 1.25, 1.5, 2.0], dtype=torch.float64, requires_grad=True)
    values = onset_switch(r, inner, outer)
    torch.testing.assert_close(values.detach(), torch.tensor([1.0, 1.0, 0.5, 0.0, 0.0]).double())
    (slopes,) = torch.autograd.grad(values.sum(), r)
    assert slopes[[0, 1, 3, 4]].abs().max().item() < 1e-12  # no kink at either end


def test_a_pair_beyond_the_onset_sees_no_repulsion() -> None:
    """A model with the repulsion equals the same weights without it where no pair is close."""
    water_by_copper = ([8, 1, 1, 29], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0], [0, 0, 2.2]])
    plain = energy_and_forces(model_with(0.0), *water_by_copper)
    core = energy_and_forces(model_with(0.8), *water_by_copper)
    torch.testing.assert_close(core, plain, rtol=0, atol=0)


def test_a_hydrogen_pushed_into_a_metal_is_pushed_back() -> None:
    """Below the onset the energy climbs steeply and the force on H points away from Cu."""
    bonded = covalent_radii[29] + covalent_radii[1]
    model, plain = model_with(0.8), model_with(0.0)
    rises, pushes = [], []
    for share in (0.8, 0.7, 0.6):
        positions = [[0, 0, 0], [share * bonded, 0, 0]]
        energy, forces = energy_and_forces(model, [29, 1], positions)
        plain_energy, plain_forces = energy_and_forces(plain, [29, 1], positions)
        rises.append((energy - plain_energy).item())
        pushes.append((forces - plain_forces)[1, 0].item())
    assert rises[0] == pytest.approx(0.0, abs=1e-12)
    assert 1.0 < rises[1] < rises[2]  # eV: a wall, not a nudge
    assert min(pushes[1:]) > 1.0  # eV/A along +x, away from Cu


def test_forces_with_the_repulsion_are_minus_the_gradient() -> None:
    model = model_with(0.8)
    numbers = [29, 1, 8, 1]
    positions = np.array([[0, 0, 0], [1.15, 0.1, 0], [2.1, 0.2, 0.3], [2.5, 1.0, 0.1]])
    _, forces = energy_and_forces(model, numbers, positions)
    step = 1e-5
    for atom, axis in [(0, 0), (1, 0), (1, 1), (3, 2)]:
        plus, minus = positions.copy(), positions.copy()
        plus[atom, axis] += step
        minus[atom, axis] -= step
        numeric = -(
            energy_and_forces(model, numbers, plus)[0] - energy_and_forces(model, numbers, minus)[0]
        ).item() / (2 * step)
        assert math.isclose(forces[atom, axis].item(), numeric, rel_tol=1e-6, abs_tol=1e-6)


def test_a_bad_onset_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"core_repulsion=0\.1 .* use 0 \(none\)"):
        CoreRepulsion(0.1)
    with pytest.raises(ValueError, match="core_repulsion"):
        make_config(dict(model="aenet", model_config={**AENET, "core_repulsion": -1}))


def test_a_model_with_the_repulsion_does_not_export_to_aenet_files(tmp_path) -> None:
    with pytest.raises(ExportError, match="core repulsion .* cannot hold"):
        export_nn_ascii(model_with(0.8), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert len(export_nn_ascii(model_with(0.0), tmp_path / "plain")) == 3


def test_a_finetuning_may_add_the_repulsion_but_not_change_the_architecture(
    emt_file, tmp_path
) -> None:
    """The repulsion holds no weights: fine-tuning from a model without it may switch it on."""
    values = dict(
        data=[str(emt_file)],
        model="aenet",
        model_config={**AENET, "species": ["Cu", "Au"]},
        max_epochs=1,
        batch_size=32,
        progress_bar=False,
    )
    pretrained = train(make_config({**values, "output_dir": str(tmp_path / "pre")}))
    tuned = train(
        make_config(
            {
                **values,
                "model_config": {"core_repulsion": 0.8},
                "init_from": pretrained.checkpoint_path,
                "output_dir": str(tmp_path / "tuned"),
            }
        )
    )
    model = load_task(tuned.checkpoint_path).model
    assert model.settings.core_repulsion == 0.8 and model.core_repulsion is not None
    assert model.settings.radial_order == AENET["radial_order"]  # the rest is the checkpoint's
    with pytest.raises(
        TransferError, match=r"radial_order cannot change \(only core_repulsion can\)"
    ):
        task_from_pretrained(
            pretrained.checkpoint_path, "full", None, model_changes={"radial_order": 4}
        )
