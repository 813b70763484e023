"""`pesweep references`, `--element-energies` and the rank warning of `pesweep audit`, as a user runs them."""

from __future__ import annotations

import ase.io
import pytest
import yaml
from ase import Atoms

from lightning_modules.data import load_data
from lightning_modules.data.atoms import DataWarning
from lightning_modules.data.emt_data import emt_clusters
from lightning_modules.data.isolated_atoms import isolated_atom_energies, write_references
from lightning_modules.data.xtb_data import add_waters, label_gfn1_xtb
from lightning_modules.training.config import make_config
from lightning_modules.training.evaluation import energy_errors_per_atom
from lightning_modules.training.run import train
from lightning_modules.training.task import load_task
from tests.support.commands import run_cli


def test_gfn1_xtb_references_use_the_lowest_spin_state_of_the_right_parity(tmp_path) -> None:
    from tblite.ase import TBLite

    out = tmp_path / "refs.yaml"
    done = run_cli(
        "references", "--calculator", "gfn1-xtb", "--elements", "Cu,Au,O,H", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(out.read_text())
    assert document["calculator"] == "gfn1-xtb"
    assert document["unpaired_electrons"] == {"Cu": 1, "Au": 1, "O": 0, "H": 1}
    for symbol, unpaired in document["unpaired_electrons"].items():
        atom = Atoms(symbol, positions=[[0.0, 0.0, 0.0]])
        atom.set_initial_magnetic_moments([unpaired])
        atom.calc = TBLite(method="GFN1-xTB", verbosity=0)
        assert document["element_energies"][symbol] == pytest.approx(
            atom.get_potential_energy(), abs=1e-8
        )
    again = run_cli(
        "references", "--calculator", "emt", "--elements", "Cu", "--out", str(out), cwd=tmp_path
    )
    assert again.returncode == 2 and "exists; choose another --out, or pass --force" in again.stderr
    bad = run_cli(
        "references", "--calculator", "emt", "--elements", "Cu,Qq", "--out", "x.yaml", cwd=tmp_path
    )
    assert bad.returncode == 2 and "unknown element(s) Qq" in bad.stderr
    assert not (tmp_path / "x.yaml").exists()


@pytest.fixture(scope="module")
def cluster_with_water(tmp_path_factory) -> dict[str, str]:
    """GFN1-xTB frames of Cu7Au6 with one water (training) and with six (held out)."""
    folder = tmp_path_factory.mktemp("water")
    one = emt_clusters(40, seed=2, composition={"Cu": 7, "Au": 6}, rattle=0.1)
    six = emt_clusters(10, seed=3, composition={"Cu": 7, "Au": 6}, rattle=0.1)
    files = {"one": str(folder / "one_water.xyz"), "six": str(folder / "six_waters.xyz")}
    ase.io.write(
        files["one"], label_gfn1_xtb([add_waters(a, 1, seed=i) for i, a in enumerate(one)])
    )
    ase.io.write(
        files["six"], label_gfn1_xtb([add_waters(a, 6, seed=100 + i) for i, a in enumerate(six)])
    )
    return files


def error_per_atom(checkpoint: str, path: str) -> float:
    """Mean |E - E_pred| / n_atoms (eV/atom) of a trained model on every structure of ``path``."""
    errors = energy_errors_per_atom(load_task(checkpoint), load_data([path]), accelerator="cpu")
    return float(errors.mean())


# slow (about a minute): the references file itself is checked by the faster tests here and in
# tests/lightning_modules/data/test_references.py
@pytest.mark.slow
def test_references_rescue_the_energies_of_another_composition(cluster_with_water, tmp_path):
    """The issue's case: trained on Cu7Au6 + H2O, predicted on Cu7Au6 + 6 H2O (GFN1-xTB)."""
    audit = run_cli("audit", cluster_with_water["one"], cwd=tmp_path)
    assert audit.returncode == 0
    assert (
        "warning: the compositions of the data (H2Au6Cu7O) cannot determine the reference "
        "energies of H, O, Cu, Au" in audit.stdout
    )
    settings = dict(max_epochs=20, batch_size=8, lr=2e-3, progress_bar=False)
    with pytest.warns(DataWarning, match="cannot determine the reference energies of H, O, Cu, Au"):
        fitted = train(
            make_config(
                dict(
                    data=[cluster_with_water["one"]],
                    output_dir=str(tmp_path / "fitted"),
                    **settings,
                )
            )
        )
    write_references(
        tmp_path / "refs.yaml",
        isolated_atom_energies(["Cu", "Au", "O", "H"], "gfn1-xtb"),
        "gfn1-xtb",
    )
    given = run_cli(
        "train", "--data", cluster_with_water["one"], "--max-epochs", "20", "--batch-size", "8",
        "--lr", "2e-3", "--no-progress-bar", "--output-dir", "given",
        "--element-energies", "refs.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert "cannot determine" not in given.stderr
    without = error_per_atom(fitted.checkpoint_path, cluster_with_water["six"])
    with_refs = error_per_atom(str(tmp_path / "given" / "best.ckpt"), cluster_with_water["six"])
    # measured: 10.3 eV/atom without references (the 10.4), 1.0 eV/atom with them;
    # what remains is the binding per element, which one composition cannot tell apart
    assert without > 5.0 and with_refs < 1.5, (without, with_refs)


def test_sweep_and_finetune_take_the_references_file(tmp_path) -> None:
    """A sweep records the values (a resume does not re-read a changed file); finetune takes it."""
    from hpo.cli.commands.sweep import _sweep_options
    from hpo.cli.main import build_parser

    path = write_references(
        tmp_path / "refs.yaml", isolated_atom_energies(["Cu", "Au"], "emt"), "emt"
    )
    parser = build_parser()
    args = parser.parse_args(
        ["sweep", "--study", "s", "--space", "demo", "--data", "x.xyz",
         "--element-energies", str(path)]
    )  # fmt: skip
    overrides = _sweep_options(args).train_overrides
    assert overrides["element_energies"] == {"Cu": 3.51, "Au": 3.8}
    assert overrides["element_energies_source"] == str(path)
    tune = parser.parse_args(
        ["finetune", "--from", "a.ckpt", "--data", "x.xyz", "--element-energies", str(path)]
    )
    assert tune.element_energies == str(path)
    missing = run_cli(
        "sweep", "--study", "s", "--space", "demo", "--data", "x.xyz",
        "--element-energies", "nope.yaml", cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode == 2 and "nope.yaml: no such references file" in missing.stderr
    assert not (tmp_path / "pesweep.db").exists()
