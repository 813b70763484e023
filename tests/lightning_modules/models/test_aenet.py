"""The ænet model: per-element normalisation, given reference energies, training on TiO2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_modules import keys
from lightning_modules.data import load_data
from lightning_modules.training.config import make_config
from lightning_modules.training.run import build_datamodule, build_task, train
from tests.support.data import shared_file
from tests.support.models import TIO2_MODEL

TYPES = {"O": -432.503149303, "Ti": -1604.604515075}


@pytest.fixture(scope="module")
def tio2_small():
    data = load_data(shared_file("tio2_aenet/dir_xsf.tar.gz"))
    small = np.flatnonzero(data.n_atoms <= 12)[:80]  # the smallest cells keep the test fast
    return data.subset(small)


def tio2_config(tmp_path, **changes):
    values = dict(
        model="aenet",
        model_config=TIO2_MODEL,
        alpha=0.1,
        optimizer="adamw",
        lr=1e-2,
        weight_decay=1e-3,
        batch_size=16,
        max_epochs=20,
        element_energies=TYPES,
        progress_bar=False,
        output_dir=str(tmp_path),
    )
    values.update(changes)
    return make_config(values)


def test_normalisation_and_given_references(tio2_small, tmp_path) -> None:
    config = tio2_config(tmp_path)
    module = build_datamodule(config, data=tio2_small)
    module.setup()
    assert module.energy_reference.element_energy == {8: TYPES["O"], 22: TYPES["Ti"]}
    task = build_task(config, module)
    model = task.model
    features, species = [], []
    for batch in module.train_dataloader():
        positions = batch[keys.R]
        vectors = (
            positions[batch[keys.IDX_J]] - positions[batch[keys.IDX_I]] + batch[keys.PAIR_SHIFT]
        )
        with torch.no_grad():
            features.append(model.descriptors(batch, vectors))
        species.append(model.species_index[batch[keys.Z]])
    features, species = torch.cat(features).double(), torch.cat(species)
    for index in range(2):
        rows = (
            features[species == index] - model.feature_shift[index].double()
        ) * model.feature_scale[index].double()
        varying = model.feature_scale[index] > 0
        torch.testing.assert_close(rows.mean(0), torch.zeros_like(rows[0]), atol=1e-4, rtol=0)
        torch.testing.assert_close(
            rows[:, varying].std(0, unbiased=False),
            torch.ones(int(varying.sum()), dtype=torch.float64),
            atol=1e-3,
            rtol=0,
        )


def test_species_default_to_the_data(tio2_small, tmp_path) -> None:
    config = tio2_config(
        tmp_path, model_config={k: v for k, v in TIO2_MODEL.items() if k != "species"}
    )
    module = build_datamodule(config, data=tio2_small)
    module.setup()
    task = build_task(config, module)
    assert task.model.species_symbols == ["O", "Ti"]


def untrained_energies(tio2_small, tmp_path, seed: int, **model) -> tuple[torch.Tensor, ...]:
    """An untrained model's energies of the validation structures, and the references' sum."""
    config = tio2_config(tmp_path, model_config={**TIO2_MODEL, **model})
    module = build_datamodule(config, data=tio2_small)
    module.setup()
    torch.manual_seed(seed)
    model = build_task(config, module).model
    batch = module._collator(module.split["val"].tolist())
    with torch.no_grad():
        energies = model(batch)[keys.ENERGY].double()
    atoms = batch[keys.Z]
    structure = batch[keys.IDX_M]
    per_atom = model.element_energy[atoms] + model.energy_shift
    expected = torch.zeros_like(energies).index_add(0, structure, per_atom.double())
    return energies, expected


def test_a_zero_output_layer_starts_every_model_at_the_reference_energies(
    tio2_small, tmp_path
) -> None:
    """Whatever the descriptor and the seed, untrained models predict the same energies."""
    settings = [(0, {}), (1, {"radial_order": 12, "angular_order": 5, "radial_cutoff": 5.5})]
    for seed, model in settings:
        started, expected = untrained_energies(
            tio2_small, tmp_path, seed, zero_output_layer=True, **model
        )
        torch.testing.assert_close(started, expected, rtol=0, atol=1e-3)
        drawn, _ = untrained_energies(tio2_small, tmp_path, seed, **model)
        assert (drawn - expected).abs().max() > 0.1  # the default start: a random offset, eV


@pytest.mark.parametrize("zero_output_layer", [False, True])
def test_training_on_tio2_lowers_energy_and_force_errors(
    tio2_small, tmp_path, zero_output_layer
) -> None:
    config = tio2_config(
        tmp_path, model_config={**TIO2_MODEL, "zero_output_layer": zero_output_layer}
    )
    result = train(config, datamodule=build_datamodule(config, data=tio2_small))
    first, best = result.history[0], min(result.history, key=lambda e: e["val_energy_mae_eV"])
    assert best["val_energy_mae_eV"] < 0.5 * first["val_energy_mae_eV"]
    assert result.test_metrics["test_force_rmse_eV_per_A"] < 3.0  # eV/A, finite and physical


def test_cached_descriptors_give_the_same_energies_and_forces(tio2_small, tmp_path) -> None:
    """Batches with cached descriptors and Jacobians equal the on-the-fly computation."""
    config = tio2_config(tmp_path)
    module = build_datamodule(config, data=tio2_small)
    module.setup()
    task = build_task(config, module)  # attaches the cache
    model = task.model.double()
    module._collator.dtype = torch.float64
    indices = module.split["val"].tolist()
    batch = module._collator(indices)
    assert keys.DESCRIPTOR in batch and keys.JACOBIAN in batch
    assert batch[keys.IDX_I].numel() == 0  # cached descriptors replace the pairs
    cached = model(batch, compute_forces=True)
    features = module._collator.features
    module._collator.attach_features(None)
    plain = module._collator(indices)
    module._collator.attach_features(features)
    assert keys.DESCRIPTOR not in plain and plain[keys.IDX_I].numel() > 0
    direct = model(plain, compute_forces=True)
    torch.testing.assert_close(cached[keys.ENERGY], direct[keys.ENERGY], rtol=0, atol=1e-5)
    torch.testing.assert_close(cached[keys.FORCES], direct[keys.FORCES], rtol=0, atol=1e-5)
    assert direct[keys.FORCES].abs().max() > 0.01


def test_cached_descriptors_spare_the_neighbour_pairs_of_the_batches(
    tio2_small, tmp_path, monkeypatch
) -> None:
    """An ænet training never builds the datamodule's pair lists: the descriptor cache replaces them."""
    import lightning_modules.batching.data_cache as data_cache_module
    from lightning_modules.batching.batches import dataset_pairs

    requested = []

    def counted(data, cutoff):
        requested.append(cutoff)
        return dataset_pairs(data, cutoff)

    monkeypatch.setattr(data_cache_module, "dataset_pairs", counted)
    config = tio2_config(tmp_path, max_epochs=1)
    module = build_datamodule(config, data=tio2_small)
    result = train(config, datamodule=module)
    assert np.isfinite(result.test_metrics["test_energy_rmse_eV"])
    assert requested == []
    module._collator.attach_features(None)  # without the cache, a batch asks for pairs once
    module._collator(module.split["val"].tolist())
    module._collator(module.split["val"].tolist())
    assert requested == [module.cutoff]
