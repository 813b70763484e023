"""What a pesweep process prints on the console: its log lines and one-line warnings."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any


def _format_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> str:
    return f"pesweep: warning: {message}\n"


def configure_logging(verbose: bool, prefix: str = "") -> None:
    """Console logging for the CLI (``prefix``: a worker's); Lightning's chatter kept to warnings."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"{prefix}%(message)s",
        stream=sys.stderr,
    )
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric", "alembic", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.formatwarning = _format_warning  # type: ignore[assignment]
    for pattern in (
        ".*LeafSpec.*",
        ".*does not have many workers.*",
        ".*exists and is not empty.*",
        ".*litlogger.*",
        ".*The number of training batches.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)
