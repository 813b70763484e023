"""Element references across compositions: the numbers quoted in docs/how-to/references.md, rerun.

1. GFN1-xTB (tblite) frames of a Cu7Au6 cluster with one water train a small
   SchNet, with references fitted (the data cannot determine them) and with
   isolated-atom references from ``pesweep references``; both predict frames
   of the same cluster with six waters.
2. EMT Cu/Au clusters of every composition pretrain; fine-tuning on Cu7Au6
   only refits the references where Cu7Au6 determines them; the error on
   three held-out compositions before and after.

Energies per atom, mean |E - E_pred| / n_atoms over the held-out frames, for
each of ``--seeds`` training seeds (median, min-max).

    python benchmarks/element_references.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

import ase.io
import numpy as np

from lightning_modules.data import load_data
from lightning_modules.data.emt_data import emt_clusters
from lightning_modules.data.isolated_atoms import isolated_atom_energies, write_references
from lightning_modules.data.xtb_data import add_waters, label_gfn1_xtb
from lightning_modules.training.config import make_config
from lightning_modules.training.evaluation import energy_errors_per_atom
from lightning_modules.training.run import train
from lightning_modules.training.task import load_task

SMALL = dict(n_atom_basis=16, n_interactions=2, n_rbf=12, cutoff=4.5)
OTHERS = ({"Cu": 3, "Au": 10}, {"Cu": 10, "Au": 3}, {"Cu": 12, "Au": 1})


def error_per_atom(checkpoint: str, path: str) -> float:
    """Mean |E - E_pred| / n_atoms (eV/atom) of a trained model on every structure of ``path``."""
    errors = energy_errors_per_atom(load_task(checkpoint), load_data([path]), accelerator="cpu")
    return float(errors.mean())


def fit(data: str, folder: Path, seed: int, **changes) -> str:
    values = dict(
        data=[data], model_config=SMALL, batch_size=8, lr=2e-3, alpha=0.1, seed=seed,
        max_epochs=20, progress_bar=False, output_dir=str(folder),
    )  # fmt: skip
    return train(make_config({**values, **changes}), log_audit=False).checkpoint_path


def water(folder: Path, seeds: int) -> dict[str, list[float]]:
    one = emt_clusters(40, seed=2, composition={"Cu": 7, "Au": 6}, rattle=0.1)
    six = emt_clusters(10, seed=3, composition={"Cu": 7, "Au": 6}, rattle=0.1)
    train_file, test_file = str(folder / "one_water.xyz"), str(folder / "six_waters.xyz")
    ase.io.write(train_file, label_gfn1_xtb([add_waters(a, 1, seed=i) for i, a in enumerate(one)]))
    ase.io.write(
        test_file, label_gfn1_xtb([add_waters(a, 6, seed=100 + i) for i, a in enumerate(six)])
    )
    references = write_references(
        folder / "refs.yaml", isolated_atom_energies(["Cu", "Au", "O", "H"], "gfn1-xtb"), "gfn1-xtb"
    )
    errors: dict[str, list[float]] = {"fitted references": [], "isolated-atom references": []}
    for seed in range(seeds):
        fitted = fit(train_file, folder / f"fitted-{seed}", seed)
        given = fit(train_file, folder / f"given-{seed}", seed, element_energies=str(references))
        errors["fitted references"].append(error_per_atom(fitted, test_file))
        errors["isolated-atom references"].append(error_per_atom(given, test_file))
    return errors


def finetuning(folder: Path, seeds: int) -> dict[str, list[float]]:
    mixed, target = str(folder / "mixed.xyz"), str(folder / "target.xyz")
    ase.io.write(mixed, emt_clusters(240, seed=1))
    ase.io.write(target, emt_clusters(60, seed=2, composition={"Cu": 7, "Au": 6}))
    others = []
    for i, composition in enumerate(OTHERS):
        others.append(str(folder / f"other{i}.xyz"))
        ase.io.write(others[-1], emt_clusters(30, seed=3 + i, composition=composition))
    errors: dict[str, list[float]] = {"pretrained": [], "fine-tuned on Cu7Au6": []}
    for seed in range(seeds):
        pre = fit(mixed, folder / f"pre-{seed}", seed, batch_size=16, max_epochs=40)
        tuned = fit(
            target, folder / f"ft-{seed}", seed, batch_size=16, max_epochs=10, init_from=pre
        )
        errors["pretrained"].append(np.mean([error_per_atom(pre, o) for o in others]))
        errors["fine-tuned on Cu7Au6"].append(np.mean([error_per_atom(tuned, o) for o in others]))
    return errors


def report(title: str, errors: dict[str, list[float]]) -> None:
    print(title)
    for name, values in errors.items():
        print(
            f"  {name:28s} median {np.median(values):.3f} eV/atom "
            f"(min {min(values):.3f}, max {max(values):.3f}, {len(values)} seeds)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report(
            "GFN1-xTB Cu7Au6 + H2O -> Cu7Au6 + 6 H2O, error per atom:", water(folder, args.seeds)
        )
        report(
            "EMT Cu/Au, held-out compositions (Cu3Au10, Cu10Au3, Cu12Au1), error per atom:",
            finetuning(folder, args.seeds),
        )


if __name__ == "__main__":
    main()
