"""A real one-node Slurm cluster on loopback for tests: munged, slurmctld and slurmd, stopped by PID.

Everything lives in one temporary folder (config, munge key and socket, state,
logs); the only node is this host, with no cgroups
(``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``). Client
commands find it through ``SLURM_CONF`` (:attr:`SlurmCluster.environment`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.services import free_port

BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def _sbin(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, name
    return path


class SlurmCluster:
    """Start the three daemons in ``folder``; :meth:`stop` ends them by their PIDs."""

    def __init__(self, folder: Path, cpus: int = 2) -> None:
        self.folder = folder
        self.node = socket.gethostname().split(".")[0]
        for name in ("state", "spool", "munge"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        os.chmod(folder / "munge", 0o700)
        self.munge_socket = folder / "munge" / "munge.socket"
        self.conf = folder / "slurm.conf"
        self.conf.write_text(self._config(cpus))
        self.environment = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.pids: dict[str, Path] = {}
        key = folder / "munge" / "munge.key"
        subprocess.run([_sbin("mungekey"), "--create", "--keyfile", str(key)], check=True)
        os.chmod(key, 0o600)
        self._start(
            "munged",
            [
                _sbin("munged"),
                "--force",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={folder / 'munge' / 'munged.pid'}",
                f"--log-file={folder / 'munge' / 'munged.log'}",
                f"--seed-file={folder / 'munge' / 'munged.seed'}",
            ],
            folder / "munge" / "munged.pid",
        )
        self._start("slurmctld", [_sbin("slurmctld")], folder / "slurmctld.pid")
        self._start("slurmd", [_sbin("slurmd"), "-N", self.node], folder / "slurmd.pid")
        self._wait_for_idle_node()

    def _config(self, cpus: int) -> str:
        folder = self.folder
        return "\n".join(
            [
                "ClusterName=pesweep-test",
                f"SlurmctldHost={self.node}(127.0.0.1)",
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={self.munge_socket}",
                f"StateSaveLocation={folder / 'state'}",
                f"SlurmdSpoolDir={folder / 'spool'}",
                f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
                f"SlurmdPidFile={folder / 'slurmd.pid'}",
                f"SlurmctldLogFile={folder / 'slurmctld.log'}",
                f"SlurmdLogFile={folder / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SchedulerType=sched/builtin",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_CPU",
                "ReturnToService=2",
                "MpiDefault=none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "KillWait=10",
                "MinJobAge=300",
                f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN",
                "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )

    def _start(self, name: str, command: list[str], pid_file: Path) -> None:
        env = {**os.environ, "SLURM_CONF": str(self.conf)}
        subprocess.run(command, check=True, env=env, cwd=self.folder)  # daemons fork themselves
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text().strip():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see its log in {self.folder}")
            time.sleep(0.1)
        self.pids[name] = pid_file

    def _wait_for_idle_node(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%t").stdout.strip()
            if state in ("idle", "mix", "alloc"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Slurm node did not come up ({state!r}); see {self.folder}")

    def run(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(command), env=self.environment, capture_output=True, text=True, check=False
        )

    def stop(self) -> None:
        for name in ("slurmd", "slurmctld", "munged"):
            pid_file = self.pids.get(name)
            if pid_file is None or not pid_file.exists():
                continue
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
