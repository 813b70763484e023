"""Resumable cells: a long benchmark as independent units that outlive the session that ran them.

A cell is one unit of a benchmark, such as one (row, seed) training, named by
a key and described by the settings that decide its result. :class:`CellStore`
records a finished cell as ``<folder>/<key>.json`` (written under a temporary
name, then renamed) with its settings, its result, its time and the commit
that ran it; a rerun takes the stored result instead of recomputing it and
refuses a cell whose stored settings differ, naming the first difference, so
that one table never mixes two budgets. :func:`run_cells` runs the missing
cells of one stage in ``jobs`` processes of one torch thread each and logs the
cells done and an estimate of the time left.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

logger = logging.getLogger("cells")


class CellError(SystemExit):
    """A cell that cannot be run or resumed; the message (one line) names the fix."""


@dataclass(frozen=True)
class Cell:
    """One unit of work: ``work(*arguments)`` returns a JSON-able result; ``settings`` decide it."""

    key: str
    settings: dict[str, Any]
    work: Callable[..., dict[str, Any]]
    arguments: tuple[Any, ...] = ()
    # files the finished cell leaves for later cells (a checkpoint): one that is gone (a new
    # machine; they are too large for the repository) makes the cell run again
    outputs: tuple[str, ...] = ()


def _normalised(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparing settings."""
    return json.loads(json.dumps(value))


def _first_difference(stored: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> str:
    """The first setting that differs, by its dotted name (``config.lr=0.001 there, ...``)."""
    for name in sorted(set(stored) | set(wanted)):
        there, now = stored.get(name), wanted.get(name)
        if there != now:
            if isinstance(there, dict) and isinstance(now, dict):
                return _first_difference(there, now, f"{prefix}{name}.")
            return f"{prefix}{name}={there!r} there, {now!r} now"
    return "none"


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


class CellStore:
    """Finished cells as JSON files under one folder; see the module docstring."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        # the code that runs the cells: read once, when the run starts (the checkout may
        # move on while a long run goes on; its process keeps the code it imported)
        self.commit = _commit()

    def path(self, key: str) -> Path:
        """``<folder>/<key>.json``; ``/`` in a key makes subfolders, other odd characters ``_``."""
        parts = [re.sub(r"[^A-Za-z0-9._+-]", "_", part) for part in key.split("/") if part]
        if not parts or any(part in (".", "..") for part in parts):
            raise CellError(f"cell key {key!r} names no file; use letters, digits and /")
        return self.folder.joinpath(*parts).with_suffix(".json")

    def load(self, cell: Cell) -> dict[str, Any] | None:
        """The stored result of ``cell``, None when it has not finished; refuses other settings."""
        path = self.path(cell.key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
            stored, result = record["settings"], record["result"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CellError(
                f"{path} is no finished cell ({type(error).__name__}); delete it to rerun the cell"
            ) from error
        wanted = _normalised(cell.settings)
        if stored != wanted:
            raise CellError(
                f"cell {cell.key} in {self.folder} ran with other settings "
                f"({_first_difference(stored, wanted)}); rerun with that cell's settings "
                f"or choose another --cells-dir"
            )
        missing = [output for output in cell.outputs if not Path(output).exists()]
        if missing:
            logger.info("cell %s finished, but %s is gone: running it again", cell.key, missing[0])
            return None
        return dict(result)

    def save(self, cell: Cell, result: dict[str, Any], seconds: float) -> Path:
        """Record a finished cell (atomically: a killed writer leaves no half file)."""
        path = self.path(cell.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "key": cell.key,
            "settings": _normalised(cell.settings),
            "result": _normalised(result),
            "seconds": round(seconds, 1),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "commit": self.commit,
        }
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(temporary, path)
        return path


def _worker_start(parent: int) -> None:
    """A worker process's start: one torch thread (the parent's cores are shared out by jobs),
    and, on Linux, SIGTERM when ``parent`` ends, so that a stopped run leaves no training
    going on in orphaned workers whose results nobody records."""
    if sys.platform.startswith("linux"):
        import ctypes

        set_parent_death_signal = 1  # PR_SET_PDEATHSIG, <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(set_parent_death_signal, signal.SIGTERM)
        if os.getppid() != parent:  # the parent ended before the signal was asked for
            os._exit(1)
    import torch

    torch.set_num_threads(1)


def _timed(work: Callable[..., dict[str, Any]], arguments: tuple[Any, ...]) -> tuple[dict, float]:
    start = time.perf_counter()
    result = work(*arguments)
    return result, time.perf_counter() - start


class _Progress:
    """Cells done of all, and the time left estimated from the cells this run finished."""

    def __init__(self, total: int, done: int, jobs: int) -> None:
        self.total, self.done, self.jobs = total, done, jobs
        self.seconds: list[float] = []

    def finished(self, key: str, seconds: float) -> None:
        self.done += 1
        self.seconds.append(seconds)
        left = (self.total - self.done) * statistics.mean(self.seconds) / self.jobs
        logger.info(
            "cell %s done in %.0f s; %d of %d cells done, about %.0f min left in this stage",
            key,
            seconds,
            self.done,
            self.total,
            left / 60,
        )


def finished_cells(store: CellStore, cells: Sequence[Cell]) -> dict[str, dict[str, Any]]:
    """The results of the cells already recorded in ``store`` (nothing is run)."""
    results = {}
    for cell in cells:
        stored = store.load(cell)
        if stored is not None:
            results[cell.key] = stored
    return results


def run_cells(store: CellStore, cells: Sequence[Cell], jobs: int = 1) -> dict[str, dict[str, Any]]:
    """Every cell's result by key: stored ones read back, missing ones run and stored.

    ``jobs`` 1 runs the cells in this process (with its torch threads); more
    runs them in that many spawned processes of one torch thread each. A cell
    that fails stops the stage (the cells already finished stay recorded).
    """
    if jobs < 1:
        raise CellError(f"--jobs must be at least 1, got {jobs}")
    keys = [cell.key for cell in cells]
    if len(set(keys)) != len(keys):
        raise CellError(f"two cells share a key in {keys}; give each cell its own key")
    results = finished_cells(store, cells)  # every stored cell is checked before any work
    todo = [cell for cell in cells if cell.key not in results]
    if results:
        logger.info("%d of %d cells already done in %s", len(results), len(cells), store.folder)
    progress = _Progress(len(cells), len(results), min(jobs, max(len(todo), 1)))
    if jobs == 1 or len(todo) <= 1:
        for cell in todo:
            result, seconds = _timed(cell.work, cell.arguments)
            store.save(cell, result, seconds)
            results[cell.key] = result
            progress.finished(cell.key, seconds)
        return {key: results[key] for key in keys}
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by the spawned workers' torch import
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_worker_start, initargs=(os.getpid(),)
    ) as pool:
        running: dict[Future, Cell] = {
            pool.submit(_timed, cell.work, cell.arguments): cell for cell in todo
        }
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                cell = running.pop(future)
                try:
                    result, seconds = future.result()
                except Exception as error:
                    for other in running:
                        other.cancel()
                    raise CellError(
                        f"cell {cell.key} failed: {type(error).__name__}: {error}"
                    ) from error
                store.save(cell, result, seconds)
                results[cell.key] = result
                progress.finished(cell.key, seconds)
    return {key: results[key] for key in keys}
