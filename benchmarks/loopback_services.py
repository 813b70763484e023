"""Real services on loopback for the benchmarks and the tests: PostgreSQL and an MLflow server.

Both listen on 127.0.0.1 only, live in a temporary folder and are stopped by
their owner (``stop()``, by PID). A missing PostgreSQL raises
:class:`ServiceMissing` naming what to install.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


class ServiceMissing(RuntimeError):
    """The binaries of a service are not installed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PostgresServer:
    """A throw-away PostgreSQL cluster (trust auth on 127.0.0.1) with named databases."""

    def __init__(self) -> None:
        initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise ServiceMissing(
                "PostgreSQL is not installed (initdb/pg_ctl not found); .ci/run installs it"
            )
        # its own folder: pytest's temporary tree is private to root, PostgreSQL runs as postgres
        folder = Path(tempfile.mkdtemp(prefix="pesweep-postgres-"))
        self.folder = folder
        self.port = free_port()
        self.pg_ctl = pg_ctl
        self.data_dir = folder / "pgdata"
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(folder, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            [
                initdb,
                "-D",
                str(self.data_dir),
                "-U",
                "pesweep",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        self._run(
            [
                pg_ctl,
                "-D",
                str(self.data_dir),
                "-l",
                str(folder / "postgres.log"),
                "-w",
                "-o",
                f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ]
        )

    def _run(self, command: list[str]) -> None:
        subprocess.run(self.as_user + command, check=True, capture_output=True, timeout=120)

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="pesweep", dbname="postgres"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return f"postgresql+psycopg2://pesweep@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(
            self.as_user + [self.pg_ctl, "-D", str(self.data_dir), "-m", "fast", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


class MlflowServer:
    """``mlflow server`` with a PostgreSQL backend store and a local artifact folder."""

    def __init__(self, backend_uri: str, folder: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "mlflow-server.log", "a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                backend_uri,
                "--artifacts-destination",
                str(folder / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {folder / 'mlflow-server.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("mlflow server did not answer /health within 120 s")

    def stop(self) -> None:
        """Stop the server's process group; a second call does nothing."""
        import signal

        if self.log.closed:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()
