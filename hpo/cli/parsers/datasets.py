"""The arguments of ``pesweep datasets list|fetch``."""

from __future__ import annotations

from typing import Any

from hpo.workflows.datasets import DATA_DIR_ENV, MIRROR_ENV


def add_dataset_commands(sub: Any) -> None:
    """Register ``datasets``."""
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
    datasets.set_defaults(handler="datasets:run_datasets")
