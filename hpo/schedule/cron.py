"""``pesweep schedule cron``: the crontab line that runs ``schedule run SPEC`` at a schedule."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from hpo.runtime.errors import StudyError
from hpo.schedule.spec import SweepSpec

CRON_FIELD = r"^[\d*/,\-]+$"


def check_schedule(every: str) -> str:
    """A five-field cron schedule (``0 2 * * *``), or a one-line error."""
    fields = every.split()
    if len(fields) != 5 or not all(re.match(CRON_FIELD, f) for f in fields):
        raise StudyError(
            f'--every {every!r} is not a cron schedule of five fields, e.g. "0 2 * * *" '
            f"(02:00 every day)"
        )
    return " ".join(fields)


def crontab_line(spec: SweepSpec, every: str, log: Path) -> str:
    """One crontab line: the environment pesweep needs (no password), the command, its log."""
    command = [sys.executable, "-m", "hpo.cli", "schedule", "run", str(spec.path)]
    folder = shlex.quote(str(spec.path.parent))
    return (
        f"{check_schedule(every)} cd {folder} && {shlex.join(command)} "
        f">> {shlex.quote(str(log))} 2>&1"
    )
