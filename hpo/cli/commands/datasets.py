"""``pesweep datasets list|fetch``: the published data sets by name."""

from __future__ import annotations

import argparse
import sys

from hpo.workflows.datasets import DATASETS, DatasetError, data_dir, dataset, fetch, fetched


def run_datasets(args: argparse.Namespace) -> int:
    """``pesweep datasets list|fetch``."""
    folder = data_dir(args.dir)
    if args.action == "list":
        for name, known in DATASETS.items():
            state = f"fetched: {folder / name}" if fetched(name, folder) else "not fetched"
            print(f"{name:14s} {known.description}")
            print(
                f"{'':14s} {len(known.files)} files from {known.repository} at "
                f"{known.commit[:12]}, energies in {known.energy_unit}; {state}"
            )
        return 0
    if not args.name:
        raise DatasetError(f"pesweep datasets fetch needs a name: {', '.join(DATASETS)}")
    chosen = dataset(args.name)
    where = fetch(args.name, folder, progress=sys.stderr.isatty())
    print(f"{args.name}: {len(chosen.files)} files checked in {where}")
    print(f"  e.g. {chosen.example.format(folder=where)}")
    return 0
