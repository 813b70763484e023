"""``pesweep schedule slurm``: a Slurm job-array script whose every task is one worker on the study.

Each task asks for the spec's partition, time limit, CPUs, GPUs and memory,
and for ``--signal=B:USR1@<margin>``: Slurm signals the batch shell, which is
the worker itself (``exec``), ``margin`` seconds before the limit, so the
running trial finishes its epoch, checkpoints it and is enqueued to resume
(:mod:`hpo.runtime.interrupts`); the worker's timeout is the limit minus the margin.
The script names the spec, never a password: the storage password travels in
the environment that ``sbatch`` exports (``$PESWEEP_STORAGE``) or in the
spec's ``storage_password_file``.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from hpo.runtime.errors import StudyError
from hpo.schedule.spec import SweepSpec
from hpo.study.setup import safe_name

logger = logging.getLogger(__name__)


def job_name(spec: SweepSpec) -> str:
    return f"pesweep-{safe_name(spec.study)}"


def job_script(spec: SweepSpec, log_dir: Path) -> str:
    """The ``sbatch`` script of a spec (a bash script with ``#SBATCH`` lines)."""
    slurm = spec.slurm
    array = f"0-{slurm.array - 1}" + (f"%{slurm.max_concurrent}" if slurm.max_concurrent else "")
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name(spec)}",
        f"#SBATCH --array={array}",
        f"#SBATCH --time={slurm.time}",
        "#SBATCH --ntasks=1",
        f"#SBATCH --cpus-per-task={slurm.cpus_per_task}",
        f"#SBATCH --signal=B:USR1@{slurm.signal_margin}",
        f"#SBATCH --output={log_dir / '%x-%A_%a.out'}",
        f"#SBATCH --chdir={spec.path.parent}",
    ]
    if slurm.partition:
        lines.append(f"#SBATCH --partition={slurm.partition}")
    if slurm.account:
        lines.append(f"#SBATCH --account={slurm.account}")
    if slurm.gpus_per_task:
        lines.append(f"#SBATCH --gpus-per-task={slurm.gpus_per_task}")
    if slurm.mem:
        lines.append(f"#SBATCH --mem={slurm.mem}")
    command = [sys.executable, "-m", "hpo.cli", "schedule", "worker", str(spec.path)]
    lines += [
        "",
        f"# one pesweep worker on study {spec.study!r}; it stops starting trials "
        f"{slurm.worker_timeout} s after its start",
        "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
        f"exec {shlex.join(command)}",
        "",
    ]
    return "\n".join(lines)


def write_job_script(spec: SweepSpec, out: Path | None, overwrite: bool) -> Path:
    """Write the script (default ``<runs_dir>/<job name>.sbatch``); never over a file unasked."""
    path = out or Path(spec.runs_dir) / f"{job_name(spec)}.sbatch"
    if path.exists() and not overwrite:
        raise StudyError(f"{path} exists; pass --overwrite to replace it, or --out another file")
    log_dir = Path(spec.runs_dir) / "slurm-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(job_script(spec, log_dir))
    path.chmod(0o755)
    return path


def submit(script: Path) -> str:
    """Submit through ``sbatch --parsable``; returns the job id, or a one-line error."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise StudyError("sbatch is not on PATH: run this on a Slurm login node, or drop --submit")
    result = subprocess.run(
        [sbatch, "--parsable", str(script)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise StudyError(
            f"sbatch refused {script}: {message[-1] if message else result.returncode}"
        )
    return result.stdout.strip().split(";")[0]
