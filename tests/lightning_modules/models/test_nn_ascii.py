"""Export of ænet models to .nn.ascii: the files hold the model exactly, as ænet evaluates them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpo.cli.main import main
from lightning_modules import keys
from lightning_modules.batching.batches import atoms_to_batch
from lightning_modules.data.emt_data import emt_clusters
from lightning_modules.models.nn_ascii import (
    ExportError,
    atomic_energy,
    export_nn_ascii,
    read_nn_ascii,
)
from lightning_modules.training.config import make_config
from lightning_modules.training.run import train
from lightning_modules.training.task import load_task

MODEL = dict(
    radial_order=6,
    radial_cutoff=5.0,
    angular_order=3,
    angular_cutoff=4.0,
    hidden_layers=2,
    hidden_width=7,
)


def aenet_checkpoint(emt_file, folder, activation: str) -> str:
    config = make_config(
        dict(
            data=[str(emt_file)],
            model="aenet",
            model_config={**MODEL, "activation": activation},
            alpha=0.5,
            lr=3e-3,
            batch_size=32,
            max_epochs=3,
            seed=4,
            progress_bar=False,
            output_dir=str(folder),
        )
    )
    return train(config).checkpoint_path


@pytest.fixture(scope="module")
def checkpoint(emt_file, tmp_path_factory) -> str:
    return aenet_checkpoint(emt_file, tmp_path_factory.mktemp("aenet"), "tanh")


def energy_from_files(model, folder, atoms) -> float:
    """Total energy by ænet's rules from the exported files (raw descriptors from the model)."""
    batch = atoms_to_batch(atoms.numbers, atoms.positions, model.cutoff, dtype=torch.float64)
    positions = batch[keys.R]
    vectors = positions[batch[keys.IDX_J]] - positions[batch[keys.IDX_I]]
    descriptors = (
        model.descriptor(batch[keys.Z], vectors, batch[keys.IDX_I], batch[keys.IDX_J])
        .detach()
        .numpy()
    )
    total = 0.0
    for symbol in set(atoms.get_chemical_symbols()):
        rows = np.array(atoms.get_chemical_symbols()) == symbol
        total += atomic_energy(
            read_nn_ascii(folder / f"{symbol}.nn.ascii"), descriptors[rows]
        ).sum()
    return total


def test_exported_files_give_the_models_energies(checkpoint, tmp_path) -> None:
    model = load_task(checkpoint).model.double()
    with torch.no_grad():
        model.feature_scale[0, 1] = 0.0  # a component without variance: ænet must zero it too
    paths = export_nn_ascii(model, tmp_path)
    assert sorted(p.name for p in paths) == ["Au.nn.ascii", "Cu.nn.ascii"]
    first = read_nn_ascii(tmp_path / f"{model.species_symbols[0]}.nn.ascii")
    assert first.nnodes == (model.descriptor.settings.length, 7, 7, 1)
    assert first.activations == (1, 1, 0)
    assert first.env_types == tuple(model.species_symbols)
    assert first.rc_max == model.cutoff
    assert tuple(first.sfparam[0]) == (5.0, 6.0, 4.0, 3.0)
    assert not first.sfparam[1:].any()
    assert first.sfval_cov[1] - first.sfval_avg[1] * first.sfval_avg[1] == 0.0
    for atoms in emt_clusters(n_structures=3, seed=31):
        batch = atoms_to_batch(atoms.numbers, atoms.positions, model.cutoff, dtype=torch.float64)
        expected = model(batch)[keys.ENERGY].item()
        total = energy_from_files(model, tmp_path, atoms)
        assert total == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_only_tanh_sigmoid_and_linear_networks_export(emt_file, tmp_path, checkpoint) -> None:
    smu = load_task(aenet_checkpoint(emt_file, tmp_path / "smu", "smu")).model
    with pytest.raises(ExportError, match="no ænet code"):
        export_nn_ascii(smu, tmp_path / "out")
    schnet = make_config(
        dict(
            data=[str(emt_file)],
            max_epochs=1,
            progress_bar=False,
            model_config=dict(n_atom_basis=8, n_interactions=1, n_rbf=6),
            output_dir=str(tmp_path / "schnet"),
        )
    )
    with pytest.raises(ExportError, match="only ænet models"):
        export_nn_ascii(load_task(train(schnet).checkpoint_path).model, tmp_path / "out")


def test_the_cli_writes_one_file_per_element(checkpoint, tmp_path, capsys) -> None:
    assert main(["export-aenet", checkpoint, "--out", str(tmp_path), "--rc-min", "0.4"]) == 0
    assert "Cu.nn.ascii" in capsys.readouterr().out
    assert read_nn_ascii(tmp_path / "Cu.nn.ascii").rc_min == 0.4
    assert main(["export-aenet", str(tmp_path / "missing.ckpt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
