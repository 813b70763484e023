"""The arguments of ``pesweep sync``."""

from __future__ import annotations

from typing import Any

from hpo.cli.arguments import add_storage_argument


def add_sync_command(sub: Any) -> None:
    sync = sub.add_parser(
        "sync",
        help="write into MLflow the trials' runs, metrics and artifacts that a tracking "
        "outage left out (idempotent; a sweep does it by itself at its start)",
    )
    sync.add_argument("--study", required=True, help="the study to bring MLflow up to date with")
    add_storage_argument(sync)
    sync.add_argument("--tracking-uri", help="default: the study's own (or $MLFLOW_TRACKING_URI)")
    sync.set_defaults(handler="sync:run_sync")
