"""Per-trial overhead on SeB20: what a trial spends outside its epochs, data prepared once or per trial.

Before its first epoch a trial builds its data module (audit, split, element
references, neighbour pairs) and its task (model, fitted normalisation); it
then collates its batches. A sweep now prepares the data set once
(``PreparedData``: audit, split, references and the cache of neighbour pairs
are shared by every trial); before, every trial audited, split and fitted
its references again (neighbour pairs came from a module-level cache, as
here from the shared one). Both
sides run the same trial set-up with the same config: build the data module,
build the task, and collate every training and test batch once (where the
neighbour pairs are computed when they are not cached). Repeated and
interleaved (per trial, prepared once, per trial, ...); medians with min-max.

    python benchmarks/trial_overhead.py [--structures 2000] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lightning_modules.data import AtomsData, load_data
from lightning_modules.training.config import make_config
from lightning_modules.training.prepared import PreparedData
from lightning_modules.training.run import build_datamodule, build_task, data_settings

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/seb_clusters/SeBn/B=20.npz"


def trial_setup(config, source: Callable[[], AtomsData | PreparedData]) -> float:
    """Seconds for one trial's data (``source()``), data module, task and one pass of batches."""
    start = time.perf_counter()
    module = build_datamodule(config, data=source())
    module.setup()
    build_task(config, module)
    for loader in (module.train_dataloader(), module.test_dataloader()):
        for _ in loader:
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--structures", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(
            f"{args.data} is absent: the shared SeB_n data are not beside this checkout"
        )
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(args.data, "hartree")
    data = data.subset(np.arange(min(args.structures, len(data))))
    with tempfile.TemporaryDirectory() as folder:
        config = make_config(
            {
                "data": [str(args.data)],
                "energy_unit": "hartree",
                "model_config": {"n_atom_basis": 64, "n_interactions": 3, "cutoff": 5.0},
                "batch_size": 32,
                "max_epochs": 1,
                "output_dir": folder,
                "progress_bar": False,
            }
        )
        start = time.perf_counter()
        prepared = PreparedData.prepare(data, data_settings(config))
        preparation = time.perf_counter() - start
        trial_setup(config, lambda: prepared)  # its neighbour pairs, once per study
        settings = data_settings(config)

        def before() -> PreparedData:
            # each trial audited, split and fitted again; pairs came from a shared cache
            return PreparedData.prepare(data, settings, cache=prepared.cache)

        per_trial, shared = [], []
        for _ in range(args.repeats):
            per_trial.append(trial_setup(config, before))
            shared.append(trial_setup(config, lambda: prepared))
    per_trial_a, shared_a = np.array(per_trial), np.array(shared)
    ratios = per_trial_a / shared_a
    print(
        f"SeB20, {len(data)} structures, cutoff 5 A, batch 32, {args.threads} thread(s), "
        f"{args.repeats} repeats interleaved"
    )
    print(f"preparing the data set once per study: {preparation:.3f} s")
    for name, values in (("prepared per trial (before)", per_trial_a), ("prepared once", shared_a)):
        print(
            f"  {name:28s} median {np.median(values):.3f} s per trial "
            f"(min {values.min():.3f}, max {values.max():.3f})"
        )
    print(
        f"  per-trial overhead ratio, before / now: median {np.median(ratios):.2f}x "
        f"(min {ratios.min():.2f}x, max {ratios.max():.2f}x)"
    )


if __name__ == "__main__":
    main()
