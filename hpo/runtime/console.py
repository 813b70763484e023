"""What a pesweep process prints on the console: its log lines and one-line warnings."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any, TextIO


def _format_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> str:
    return f"pesweep: warning: {message}\n"


class WarningPrinter:
    """``warnings.showwarning`` for the CLI: each warning as pesweep's own line, once per text.

    Lightning replaces ``warnings.formatwarning`` when it is imported (after this set-up)
    with one that prefixes file and line to every warning from a path containing
    "lightning" (ours too); ``showwarning`` it leaves alone. Python's own once-per-place
    record is cleared whenever a filter changes, which every training does, so a sweep
    printed the same note about its data once per trial; here a text already shown is not
    shown again by this process.
    """

    def __init__(self) -> None:
        self.shown: set[str] = set()

    def __call__(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = _format_warning(message, category)
        if text in self.shown:
            return
        self.shown.add(text)
        try:
            (file or sys.stderr).write(text)
        except OSError:  # stderr closed: nothing to tell
            pass


HANDLER_NAME = "pesweep-console"
# Lightning sets these to INFO when it is imported, later than this set-up, and lets them
# propagate to its "lightning" logger, whose own handler prints every line a second time
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")
CHATTY_LOGGERS = ("alembic", "matplotlib", "git", "urllib3", "PIL", "fsspec")  # debug not ours


def configure_logging(verbose: bool, prefix: str = "") -> None:
    """Console logging for the CLI (``prefix``: a worker's); library chatter kept to warnings.

    Lightning's and MLflow's loggers are configured when those libraries are
    imported, which the CLI defers until a command needs them. Lightning's get
    a handler of ours that passes warnings only (everything with ``verbose``)
    and do not propagate, so each line is printed once and nothing Lightning's
    import sets can add its INFO lines; MLflow reads its level from
    ``MLFLOW_LOGGING_LEVEL`` (a value the user set is kept).
    """
    line_format = f"{prefix}%(message)s"
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format=line_format, stream=sys.stderr)
    for name in LIGHTNING_LOGGERS:
        library = logging.getLogger(name)
        for old in [h for h in library.handlers if h.get_name() == HANDLER_NAME]:
            library.removeHandler(old)
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(HANDLER_NAME)
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
        handler.setFormatter(logging.Formatter(line_format))
        library.addHandler(handler)
        library.propagate = False
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    warnings.formatwarning = _format_warning  # type: ignore[assignment]
    warnings.showwarning = WarningPrinter()
    for pattern in (
        ".*LeafSpec.*",
        ".*does not have many workers.*",
        ".*exists and is not empty.*",
        ".*litlogger.*",
        ".*The number of training batches.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)
