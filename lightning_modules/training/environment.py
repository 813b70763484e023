"""The process environment every pesweep Trainer runs in: one process, managed by pesweep.

On a machine with Slurm, Lightning detects a Slurm cluster by itself: outside
a job step it warns on every Trainer ("The `srun` command is available on
your system but is not used"), and inside a job it installs its own SIGUSR1
handler that requeues the job. pesweep runs one training per process and
handles preemption itself (:mod:`hpo.runtime.interrupts`), so every Trainer is given
Lightning's plain single-process environment instead, and the srun warning
(which ``fit`` still raises through its check for Slurm's resume checkpoints)
is silenced while pesweep's Trainers run.

Checkpoints are written atomically beside their final name (:class:`AtomicCheckpointIO`):
a crash or a full disk while ``last.ckpt`` is written leaves the previous one whole.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.environments import LightningEnvironment
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

SRUN_WARNING = "The `srun` command is available on your system but is not used"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, each file written under a temporary name in its own
    folder, flushed to disk, then renamed over the old one (one atomic step on every
    local or shared POSIX filesystem; Lightning's own temporary file lies in /tmp,
    whose move onto another filesystem is a copy)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("pesweep's checkpoint I/O takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            with open(temporary, "wb") as stream:
                torch.save(checkpoint, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)


def trainer_plugins() -> list[Any]:
    """The ``plugins`` of a pesweep Trainer: no cluster environment detected by Lightning,
    atomic checkpoint files."""
    return [LightningEnvironment(), AtomicCheckpointIO()]


@contextmanager
def without_srun_warning() -> Iterator[None]:
    """Run a Trainer's fit, test or predict without Lightning's srun warning (see above)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SRUN_WARNING)
        yield
