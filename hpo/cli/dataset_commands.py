"""`pesweep datasets list|fetch`: the published data sets by name."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def run_datasets(args: argparse.Namespace) -> int:
    from hpo.workflows.datasets import DATASETS, DatasetError, data_dir, dataset, fetch, fetched

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


def add_dataset_commands(sub: Any) -> None:
    """Register ``datasets``."""
    from hpo.workflows.datasets import DATA_DIR_ENV, MIRROR_ENV

    datasets = sub.add_parser(
        "datasets",
        help="list or fetch the studies' public data sets (pinned by URL and SHA-256)",
        description="The data sets of the SchNet_IIA and aenet-PyTorch studies, fetched from "
        "their authors' repositories at one commit, checked by SHA-256, resumable. "
        f"${MIRROR_ENV} names a mirror of https://raw.githubusercontent.com.",
    )
    datasets.add_argument(
        "action",
        choices=["list", "fetch"],
        help="list: the data sets and whether they are here; fetch: download one",
    )
    datasets.add_argument("name", nargs="?", help="the data set to fetch (see list)")
    datasets.add_argument(
        "--dir",
        help=f"the data folder (default: ${DATA_DIR_ENV}, else ~/.cache/pesweep/datasets)",
    )
    datasets.set_defaults(handler=run_datasets)
