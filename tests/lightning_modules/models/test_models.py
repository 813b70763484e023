"""The contract every registered model passes: shapes, forces, invariances, smoothness, dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from lightning_modules import keys
from lightning_modules.batching.batches import atoms_to_batch
from lightning_modules.data.emt_data import emt_clusters
from lightning_modules.models.registry import MODELS, build_model

CONFIGS = {
    "schnet": dict(n_atom_basis=16, n_interactions=2, n_rbf=8, cutoff=4.0),
    "schnet_iia_smu": dict(
        n_atom_basis=16,
        n_interactions=2,
        n_rbf=8,
        cutoff=4.0,
        attention=True,
        attention_heads=2,
        activation="smu",
    ),
    "aenet": dict(
        species=["Cu", "Au"],
        radial_order=6,
        radial_cutoff=4.0,
        angular_order=3,
        angular_cutoff=3.5,
        hidden_layers=2,
        hidden_width=6,
    ),
}
MODEL_OF_CONFIG = {"schnet": "schnet", "schnet_iia_smu": "schnet", "aenet": "aenet"}


def test_every_registered_model_is_covered() -> None:
    assert set(MODELS) <= set(MODEL_OF_CONFIG.values())


def make_model(name: str, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(MODEL_OF_CONFIG[name], CONFIGS[name]).to(dtype)
    model.eval()
    return model


@pytest.fixture(scope="module")
def cluster():
    atoms = emt_clusters(n_structures=1, seed=3)[0]
    return atoms.numbers, atoms.positions.copy()


def energy_and_forces(model, numbers, positions, dtype=torch.float64):
    batch = atoms_to_batch(numbers, positions, model.cutoff, dtype=dtype)
    out = model(batch, compute_forces=True)
    return out[keys.ENERGY].detach(), out[keys.FORCES].detach()


@pytest.mark.parametrize("name", sorted(CONFIGS))
class TestPotentialContract:
    def test_shapes(self, name, cluster) -> None:
        numbers, positions = cluster
        energy, forces = energy_and_forces(make_model(name), numbers, positions)
        assert energy.shape == (1,)
        assert forces.shape == (len(numbers), 3)
        assert energy.dtype == torch.float64

    def test_forces_are_minus_finite_difference_gradient(self, name, cluster) -> None:
        numbers, positions = cluster
        model = make_model(name)
        _, forces = energy_and_forces(model, numbers, positions)
        step = 1e-5
        for atom, axis in [(0, 0), (3, 1), (7, 2)]:
            plus, minus = positions.copy(), positions.copy()
            plus[atom, axis] += step
            minus[atom, axis] -= step
            e_plus, _ = energy_and_forces(model, numbers, plus)
            e_minus, _ = energy_and_forces(model, numbers, minus)
            numeric = -(e_plus - e_minus).item() / (2 * step)
            assert math.isclose(forces[atom, axis].item(), numeric, rel_tol=1e-5, abs_tol=1e-7)

    def test_rotation_translation_permutation_invariance(self, name, cluster) -> None:
        numbers, positions = cluster
        model = make_model(name)
        energy, forces = energy_and_forces(model, numbers, positions)
        rotation = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
        moved = positions @ rotation.T + np.array([1.0, -2.0, 0.5])
        e_moved, f_moved = energy_and_forces(model, numbers, moved)
        torch.testing.assert_close(e_moved, energy, rtol=1e-10, atol=1e-9)
        torch.testing.assert_close(
            f_moved, forces @ torch.as_tensor(rotation.T), rtol=1e-8, atol=1e-9
        )
        order = np.random.default_rng(0).permutation(len(numbers))
        e_perm, f_perm = energy_and_forces(model, numbers[order], positions[order])
        torch.testing.assert_close(e_perm, energy, rtol=1e-10, atol=1e-9)
        torch.testing.assert_close(f_perm, forces[order], rtol=1e-8, atol=1e-9)

    def test_energy_is_smooth_across_the_cutoff(self, name) -> None:
        model = make_model(name)
        numbers = np.array([29, 79])
        cutoff = model.cutoff
        energies = []
        for distance in (cutoff - 1e-4, cutoff + 1e-4):
            positions = np.array([[0.0, 0.0, 0.0], [distance, 0.0, 0.0]])
            energies.append(energy_and_forces(model, numbers, positions)[0].item())
        assert abs(energies[0] - energies[1]) < 1e-6

    def test_forces_are_continuous_across_the_cutoff(self, name) -> None:
        """Forces go to zero as a pair approaches the cutoff, and are zero beyond it."""
        model = make_model(name)
        numbers = np.array([29, 79])

        def largest_force(distance: float) -> float:
            positions = np.array([[0.0, 0.0, 0.0], [distance, 0.0, 0.0]])
            return float(energy_and_forces(model, numbers, positions)[1].abs().max())

        near, nearer = largest_force(model.cutoff - 1e-3), largest_force(model.cutoff - 1e-5)
        assert near > 0.0
        assert nearer < 0.05 * near  # vanishes (about linearly) at the cutoff: no jump
        assert largest_force(model.cutoff + 1e-5) == 0.0

    def test_a_periodic_cell_equals_its_supercell(self, name) -> None:
        """Periodic images: a cell smaller than the cutoff and its 2x2x2 supercell agree."""
        from ase.build import bulk

        cell = bulk("Cu", "fcc", a=3.6, cubic=True)
        cell.rattle(0.05, seed=1)
        model = make_model(name)
        results = []
        for atoms in (cell, cell.repeat((2, 2, 2))):
            batch = atoms_to_batch(
                atoms.numbers,
                atoms.positions,
                model.cutoff,
                atoms.cell.array,
                atoms.pbc,
                dtype=torch.float64,
            )
            out = model(batch, compute_forces=True)
            results.append((out[keys.ENERGY].detach(), out[keys.FORCES].detach()))
        (energy, forces), (energy_super, forces_super) = results
        assert model.cutoff > 3.6  # the cell is smaller than the cutoff: images matter
        torch.testing.assert_close(energy_super, 8 * energy, rtol=1e-10, atol=1e-8)
        torch.testing.assert_close(forces_super[: len(cell)], forces, rtol=1e-8, atol=1e-9)

    def test_float32_agrees_with_float64(self, name, cluster) -> None:
        numbers, positions = cluster
        e64, f64 = energy_and_forces(make_model(name, torch.float64), numbers, positions)
        e32, f32 = energy_and_forces(
            make_model(name, torch.float32), numbers, positions, dtype=torch.float32
        )
        assert f32.dtype == torch.float32
        torch.testing.assert_close(e32, e64, rtol=0, atol=1e-4)
        torch.testing.assert_close(f32.double(), f64, rtol=0, atol=1e-4)

    def test_batch_equals_single_structures(self, name) -> None:
        import tempfile
        from pathlib import Path

        import ase.io

        from lightning_modules.batching.batches import BatchCollator, dataset_pairs
        from lightning_modules.data import load_data  # noqa: F401  (format check only)
        from lightning_modules.data.emt_data import emt_clusters as make

        frames = make(n_structures=3, seed=11)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "three.xyz"
            ase.io.write(path, frames)
            data = load_data(path)
        model = make_model(name)
        collate = BatchCollator(
            data,
            dataset_pairs(data, model.cutoff),
            np.ones(3, dtype=bool),
            np.ones(3, dtype=bool),
            torch.float64,
        )
        batched = model(collate([0, 1, 2]), compute_forces=True)
        for k, atoms in enumerate(frames):
            energy, forces = energy_and_forces(model, atoms.numbers, atoms.positions)
            torch.testing.assert_close(batched[keys.ENERGY][k : k + 1], energy)
            torch.testing.assert_close(batched[keys.FORCES][13 * k : 13 * (k + 1)], forces)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_cutoff_has_one_source(name: str) -> None:
    """The training config's neighbour-list cutoff is the built model's, given or defaulted."""
    from lightning_modules.training.config import make_config

    model_name = MODEL_OF_CONFIG[name]
    given = make_config(dict(model=model_name, model_config=CONFIGS[name]))
    assert given.cutoff == make_model(name).cutoff
    assert given.cutoff == max(
        v for k, v in CONFIGS[name].items() if k in ("cutoff", "radial_cutoff", "angular_cutoff")
    )
    defaults = {"species": ["Cu"]} if model_name == "aenet" else {}
    default = make_config(dict(model=model_name, model_config=defaults))
    assert default.cutoff == build_model(model_name, defaults).cutoff


def test_model_settings_refuse_unknown_keys_and_non_numbers() -> None:
    with pytest.raises(ValueError, match="model 'schnet' takes no parameter.s. n_layers; it takes"):
        build_model("schnet", dict(n_layers=3))
    with pytest.raises(ValueError, match="cutoff='far' is not a number"):
        build_model("schnet", dict(cutoff="far"))
    with pytest.raises(ValueError, match="species 'Xx' is not an element symbol"):
        build_model("aenet", dict(species=["Cu", "Xx"]))
    model = build_model("schnet", dict(n_atom_basis=8.0, n_rbf=4, cutoff=3))  # YAML numbers
    assert model.settings.n_atom_basis == 8 and model.cutoff == 3.0
