"""The lock of a scheduled run: one ``schedule run`` of a study at a time, the others name it.

An exclusive ``flock`` on ``<runs_dir>/<study>.lock``, held by the process
(the kernel drops it when the process dies, ``kill -9`` included); the file
holds the holder's pid, host and start. Light on purpose: a second run
checks it before importing torch, Lightning or MLflow.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from hpo.runtime.errors import StudyError
from hpo.schedule.spec import SweepSpec
from hpo.study.setup import safe_name


class LockHeld(StudyError):
    """Another process runs this study's scheduled sweep; the message names it."""


def lock_path(spec: SweepSpec) -> Path:
    return Path(spec.runs_dir) / f"{safe_name(spec.study)}.lock"


@contextlib.contextmanager
def study_lock(spec: SweepSpec) -> Iterator[None]:
    """Hold the study's lock, or raise :class:`LockHeld` at once naming its holder."""
    path = lock_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 4096, 0).decode(errors="replace").strip()
            raise LockHeld(
                f"study {spec.study!r} is being run by {_describe(holder)}; this run does "
                f"nothing (lock {path})"
            ) from None
        os.ftruncate(descriptor, 0)
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.pwrite(descriptor, json.dumps(me).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _describe(holder: str) -> str:
    try:
        values = json.loads(holder)
        return f"pid {values['pid']} on {values['host']} since {values['started']}"
    except (ValueError, KeyError, TypeError):
        return "another process"
