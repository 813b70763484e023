"""The process environment every pesweep Trainer runs in: one process, managed by pesweep.

On a machine with Slurm, Lightning detects a Slurm cluster by itself: outside
a job step it warns on every Trainer ("The `srun` command is available on
your system but is not used"), and inside a job it installs its own SIGUSR1
handler that requeues the job. pesweep runs one training per process and
handles preemption itself (:mod:`hpo.interrupts`), so every Trainer is given
Lightning's plain single-process environment instead, and the srun warning
(which ``fit`` still raises through its check for Slurm's resume checkpoints)
is silenced while pesweep's Trainers run.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lightning.fabric.plugins.environments import LightningEnvironment

SRUN_WARNING = "The `srun` command is available on your system but is not used"


def trainer_plugins() -> list[Any]:
    """The ``plugins`` of a pesweep Trainer: no cluster environment detected by Lightning."""
    return [LightningEnvironment()]


@contextmanager
def without_srun_warning() -> Iterator[None]:
    """Run a Trainer's fit, test or predict without Lightning's srun warning (see above)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SRUN_WARNING)
        yield
