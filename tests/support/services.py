"""Services and processes for the tests: a PostgreSQL server or a skip, concurrent commands.

The servers themselves are :mod:`benchmarks.loopback_services`; a test that
needs PostgreSQL skips with the reason when its binaries are absent
(``.ci/run`` installs them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.loopback_services import (
    MlflowServer,
    PostgresServer,
    ServiceMissing,
    free_port,
    postgres_binary,
)

__all__ = [
    "MlflowServer",
    "free_port",
    "postgres_binary",
    "postgres_server",
    "run_at_once",
    "sweep_argv",
]


def postgres_server() -> PostgresServer:
    """A throw-away PostgreSQL server on loopback, or skip the test with the reason."""
    try:
        return PostgresServer()
    except ServiceMissing as missing:
        pytest.skip(str(missing))


def run_at_once(command: list[str], cwd: Path, count: int = 2, timeout: float = 300) -> list[str]:
    """Start ``count`` copies of ``command`` in the same moment; each must exit 0. Their stdouts."""
    workers = [
        subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    outputs = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=timeout)
        assert worker.returncode == 0, stderr
        outputs.append(stdout)
    return outputs


def sweep_argv(
    study: str, space: Path, data: Path, storage: str, tracking: str, *extra: str
) -> list[str]:
    """``pesweep sweep`` as a subprocess runs it: random sampler, no pruner, no bars."""
    return [
        sys.executable,
        "-m",
        "hpo.cli",
        "sweep",
        "--study",
        study,
        "--space",
        str(space),
        "--data",
        str(data),
        "--sampler",
        "random",
        "--pruner",
        "none",
        "--storage",
        storage,
        "--tracking-uri",
        tracking,
        "--no-progress-bar",
        *extra,
    ]
