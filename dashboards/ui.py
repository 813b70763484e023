"""``pesweep ui``: optuna-dashboard on the study storage and the MLflow UI on the tracking store.

Both run as child processes in their own process groups, on loopback by
default; both are stopped on Ctrl-C (no orphans). A taken port or a store
that does not exist is a one-line error before anything starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lightning_modules.errors import PesweepError

# the store URLs (passwords and all) reach the children through their environment, never
# their command lines, which `ps` shows to every user of the node
STORAGE_VARIABLE = "PESWEEP_UI_STORAGE"
TRACKING_VARIABLE = "MLFLOW_BACKEND_STORE_URI"  # `mlflow ui --backend-store-uri`'s own variable
# optuna-dashboard has no ``python -m`` entry; this is what its console script runs, with the
# storage argument taken from the environment
OPTUNA_DASHBOARD_MAIN = (
    "import os, sys; from optuna_dashboard._cli import main; "
    f"sys.argv.insert(1, os.environ.pop({STORAGE_VARIABLE!r})); sys.exit(main())"
)


class UIError(PesweepError):
    """The dashboards cannot start; the message says why and what to change."""


@dataclass
class RunningUI:
    """The two servers and their URLs."""

    processes: list[subprocess.Popen]
    optuna_url: str
    mlflow_url: str
    log_dir: str = ""
    temporary_logs: bool = False  # a folder start_ui made, removed after a clean stop

    def stop(self, grace_seconds: float = 15.0) -> None:
        """Terminate both process groups, workers included; kill whatever outlives the grace."""
        for process in self.processes:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in self.processes:
            while _group_alive(process) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _group_alive(process):
                _signal_group(process.pid, signal.SIGKILL)
                killed_by = time.monotonic() + 5.0  # an unreaped zombie must not hang us
                while _group_alive(process) and time.monotonic() < killed_by:
                    time.sleep(0.1)


def _signal_group(group: int, number: int) -> None:
    try:
        os.killpg(group, number)
    except ProcessLookupError:
        pass


def _group_alive(process: subprocess.Popen) -> bool:
    """Whether any process of the child's group still exists (the leader is reaped here)."""
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_is_free(host: str, port: int) -> bool:
    """True when a server could listen on ``port``; like the servers, ignores TIME_WAIT leftovers."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _check_sqlite(uri: str, what: str) -> None:
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists():
            raise UIError(
                f"{what} {uri} does not exist (no file {path}); run a sweep first or "
                f"pass the right URL"
            )


def _wait_until_up(url: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UIError(f"the server for {url} exited (status {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise UIError(f"{url} did not answer within {seconds:.0f} s")


def start_ui(
    study_storage: str,
    tracking_uri: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    mlflow_port: int = 5000,
    artifact_dir: str | None = None,
    log_dir: str | None = None,
) -> RunningUI:
    """Start both dashboards and wait until they answer."""
    _check_sqlite(study_storage, "the study storage")
    _check_sqlite(tracking_uri, "the MLflow tracking store")
    for number, name in ((port, "--port"), (mlflow_port, "--mlflow-port")):
        if not port_is_free(host, number):
            raise UIError(f"port {number} on {host} is taken (another dashboard?); pass {name}")
    logs = Path(log_dir or tempfile.mkdtemp(prefix="pesweep-ui-"))
    optuna_command = [
        sys.executable,
        "-c",
        OPTUNA_DASHBOARD_MAIN,
        "--host",
        host,
        "--port",
        str(port),
        "--quiet",
    ]
    if artifact_dir:
        optuna_command += ["--artifact-dir", artifact_dir]
    mlflow_command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--host",
        host,
        "--port",
        str(mlflow_port),
    ]
    processes: list[subprocess.Popen] = []
    ui = RunningUI(
        processes,
        f"http://{host}:{port}",
        f"http://{host}:{mlflow_port}",
        str(logs),
        temporary_logs=log_dir is None,
    )
    try:
        for command, name, variables in (
            (optuna_command, "optuna-dashboard", {STORAGE_VARIABLE: study_storage}),
            (mlflow_command, "mlflow-ui", {TRACKING_VARIABLE: tracking_uri}),
        ):
            log = open(logs / f"{name}.log", "w")  # noqa: SIM115 (the child owns it)
            processes.append(
                subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**os.environ, **variables},
                )
            )
        _wait_until_up(ui.optuna_url, processes[0], 60)
        _wait_until_up(ui.mlflow_url, processes[1], 120)
    except BaseException:
        ui.stop()
        raise
    return ui


def run_ui(**kwargs: object) -> int:
    """Start the dashboards, print their URLs, and stop both on Ctrl-C (or SIGTERM).

    Stopped by the user, both servers end and a temporary log folder goes with
    them; when a dashboard exits by itself its logs are kept and named.
    """
    ui = start_ui(**kwargs)  # type: ignore[arg-type]
    crashed = False
    try:  # from here on, a signal stops both servers, even one that comes while we print
        print(f"optuna-dashboard: {ui.optuna_url}")
        print(f"MLflow UI:        {ui.mlflow_url}")
        print(f"server logs in {ui.log_dir}; Ctrl-C stops both", flush=True)
        while all(process.poll() is None for process in ui.processes):
            time.sleep(1.0)
        crashed = True
        print(f"a dashboard exited; stopping the other (logs in {ui.log_dir})")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        ui.stop()
        if ui.temporary_logs and not crashed:
            shutil.rmtree(ui.log_dir, ignore_errors=True)
