"""The one table of a sweep's defaults: the CLI, the schedule spec and library callers read it.

A new study takes these where its caller left a setting out; a resumed study
keeps what it recorded (:mod:`hpo.study.resume`). ``pesweep sweep --help``
prints them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo.study.retries import DEFAULT_MAX_RETRIES
from lightning_modules.conventions import DEFAULT_ENERGY_UNIT


@dataclass(frozen=True)
class SweepDefaults:
    """What a sweep does unless told otherwise."""

    energy_unit: str = DEFAULT_ENERGY_UNIT
    max_epochs: int = 20  # per trial
    seed: int = 0  # of the split, the trainings and the sampler
    # by the search suite (benchmarks/hpo_suite.py): its winner on energies alone (SeB20)
    # and on energies with forces (CuAu/water, TiO2); docs/benchmarks/index.md
    sampler: str = "tpe"  # data with energies only
    sampler_with_forces: str = "tpe-startup-20"  # data with forces
    pruner: str = "median"  # data with energies only
    pruner_with_forces: str = "successive-halving"  # data with forces
    objectives: tuple[str, ...] = ("energy_mae",)
    runs_dir: str = "pesweep_runs"  # trial checkpoints, one folder per study
    max_retries: int = DEFAULT_MAX_RETRIES  # of a trial whose worker was preempted or died

    def sampler_for(self, has_forces: bool) -> str:
        """The default sampler of a new study on data with forces or without."""
        return self.sampler_with_forces if has_forces else self.sampler

    def pruner_for(self, has_forces: bool) -> str:
        """The default pruner of a new study on data with forces or without."""
        return self.pruner_with_forces if has_forces else self.pruner


SWEEP_DEFAULTS = SweepDefaults()
