"""The public face: ``import pesweep`` is quick, names what it offers, and works end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pesweep
from lightning_modules.errors import CheckpointNotFound


def test_import_pesweep_loads_no_torch_and_every_public_name_resolves() -> None:
    code = (
        "import sys, pesweep; assert 'torch' not in sys.modules, 'torch imported'; "
        "[getattr(pesweep, name) for name in pesweep.__all__]; print(len(pesweep.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(pesweep.__all__) > 10
    assert set(pesweep.__all__) == {"__version__", *pesweep._PUBLIC}
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pesweep.nothing  # noqa: B018


def test_train_then_load_potential_from_the_checkpoint(small_emt_file, tmp_path) -> None:
    from ase.io import read

    config = pesweep.TrainConfig(
        data=(str(small_emt_file),),
        model_config={"n_atom_basis": 8, "n_interactions": 1, "n_rbf": 8, "cutoff": 4.0},
        max_epochs=1,
        batch_size=20,
        output_dir=str(tmp_path / "run"),
        progress_bar=False,
    )
    result = pesweep.train(config)
    atoms = read(small_emt_file, 0)
    atoms.calc = pesweep.load_potential(result.checkpoint_path, dtype="float64")
    assert atoms.get_forces().shape == (len(atoms), 3)
    folder = pesweep.load_potential(tmp_path / "run", dtype="float64")  # the folder holding it
    assert folder.get_potential_energy(atoms) == pytest.approx(atoms.get_potential_energy())


def test_the_calculator_sends_an_mlflow_uri_to_load_potential() -> None:
    with pytest.raises(CheckpointNotFound, match=r"load it with pesweep.load_potential"):
        pesweep.PesweepCalculator.from_checkpoint("models:/seb@pretrained")
