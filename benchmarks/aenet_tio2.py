"""ænet on the TiO2 set: pesweep's module against the ænet-PyTorch reference run.

Same settings as the reference's train.in: descriptor 20/6 with Rc 6.5/5.0
(ENV Ti, O), 2 x 5 tanh per element, alpha 0.1, AdamW lr 1e-4 and weight
decay 1e-3, batch 128, forces for 25% of the structures, reference energies
O -432.503149303 eV and Ti -1604.604515075 eV, 10% test (the test set is
also the per-epoch validation set, as the reference reports its test error
every epoch). One thread.

    python benchmarks/aenet_tio2.py [--epochs 200] [--threads 1]

Prints seconds per epoch (featurisation separately), peak memory, and the
test energy RMSE (meV/atom) and force RMSE (eV/A) curve beside the
reference's values at the same epochs (parsed from its train.out). Goal: the
same accuracy per epoch, at most 0.15 s per epoch on 1 thread and at most
1 GiB peak memory. Measured for the reference here: 0.46 s per epoch,
2.63 GiB, plus 6 s of Fortran featurisation and 11 s of loading.
"""

from __future__ import annotations

import argparse
import logging
import re
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from lightning_modules.data import load_data
from lightning_modules.training.config import make_config
from lightning_modules.training.datamodule import PotentialDataModule
from lightning_modules.training.prepared import DataSettings
from lightning_modules.training.run import build_task, train

REPO = Path(__file__).resolve().parents[1]
TIO2 = REPO.parent / "shared" / "data" / "tio2_aenet"
MODEL = dict(
    species=["Ti", "O"],
    radial_order=20,
    radial_cutoff=6.5,
    angular_order=6,
    angular_cutoff=5.0,
    hidden_layers=2,
    hidden_width=5,
    activation="tanh",
)
TYPES = {"O": -432.503149303, "Ti": -1604.604515075}


def reference_curve(path: Path) -> dict[int, tuple[float, float]]:
    """Epoch -> (test energy RMSE meV/atom, test force RMSE eV/A) from ænet-PyTorch's train.out."""
    curve = {}
    row = re.compile(r"^\s*(\d+)\s*:\s*\S+\s+\S+\s*\|\s*\S+\s+(\S+)\s*\|\s*\S+\s+(\S+)")
    for line in path.read_text().splitlines():
        match = row.match(line)
        if match:
            curve[int(match.group(1))] = (1000 * float(match.group(2)), float(match.group(3)))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    data = load_data(TIO2 / "dir_xsf.tar.gz")
    loading = time.perf_counter() - start
    order = np.random.default_rng(0).permutation(len(data))
    test = np.sort(order[: len(data) // 10])
    split = {"train": np.sort(order[len(data) // 10 :]), "val": test, "test": test}
    config = make_config(
        dict(
            model="aenet",
            model_config=MODEL,
            alpha=0.1,
            optimizer="adamw",
            lr=1e-4,
            weight_decay=1e-3,
            batch_size=128,
            max_epochs=args.epochs,
            force_fraction=0.25,
            element_energies=TYPES,
            lr_patience=10**6,
            progress_bar=False,
            output_dir=tempfile.mkdtemp(prefix="bench-aenet-"),
        )
    )
    module = PotentialDataModule(
        data,
        cutoff=config.cutoff,
        batch_size=128,
        settings=DataSettings(
            seed=0, force_fraction=0.25, element_energies=((8, TYPES["O"]), (22, TYPES["Ti"]))
        ),
        split_override=split,
    )
    module.setup()
    start = time.perf_counter()
    task = build_task(config, module)
    featurisation = time.perf_counter() - start
    result = train(config, datamodule=module, task=task, log_audit=False)
    per_epoch = result.seconds / result.epochs
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    reference = reference_curve(TIO2 / "reference" / "train.out")
    print(
        f"ænet TiO2, {len(split['train'])} train / {len(test)} test structures, "
        f"{args.threads} thread(s), {result.epochs} epochs"
    )
    print(f"loading {loading:.1f} s, featurisation (descriptors + Jacobians) {featurisation:.1f} s")
    print(
        f"seconds per epoch (training + test evaluation): {per_epoch:.3f}  "
        f"(reference 0.46; goal <= 0.15)"
    )
    print(f"peak memory: {peak_gib:.2f} GiB  (reference 2.63; goal <= 1)")
    print(f"{'epoch':>6s} {'E RMSE meV/atom':>16s} {'ref':>8s} {'F RMSE eV/A':>12s} {'ref':>8s}")
    for epoch in sorted(set([0, *range(0, result.epochs, 50), result.epochs - 1])):
        ours = result.history[epoch]
        ref = reference.get(epoch) or reference.get(epoch + 1) or (float("nan"), float("nan"))
        print(
            f"{epoch:6d} {ours['val_energy_rmse_meV_per_atom']:16.1f} {ref[0]:8.1f} "
            f"{ours['val_force_rmse_eV_per_A']:12.3f} {ref[1]:8.3f}"
        )


if __name__ == "__main__":
    main()
