"""Is the trajectory right, not only stable: frames of it labelled by the reference calculator.

A model can hold a cluster in a basin of its own making, stable for the
whole run and far from the reference (an ænet model held a water's O 1.6 A
from an Au atom for 250 ps, where GFN1-xTB puts the cluster 20-30 eV higher
with forces 3 eV/A apart). With ``spec.spot_check`` set, :class:`SpotCheck`
labels ``spot_check_frames`` of the kept frames, spread evenly over the
planned run (the first frame included), with that calculator as the run
reaches them, and fails the run at the first frame whose model forces differ
from the reference's by more than ``spot_check_max_force_rmse`` (root mean
square over atoms and components): a wrong model stops early, as at any
other failure.
"""

from __future__ import annotations

import logging

from ase import Atoms
from ase.calculators.calculator import CalculationFailed

from lightning_modules.data.labelling import force_rmse, label_one, spread_indices
from lightning_modules.md.spec import MDSpec

logger = logging.getLogger(__name__)


class SpotCheck:
    """The spot check of one run: which steps it labels, and what it found there."""

    def __init__(self, spec: MDSpec) -> None:
        self.spec = spec
        self.checks: list[tuple[float, float]] = []  # (ps, force RMSE eV/A) of each checked frame
        self.steps: set[int] = set()
        if spec.spot_check:
            kept = sum(spec.steps) // spec.frame_every + 1  # frames a full run keeps
            spread = spread_indices(kept, spec.spot_check_frames) * spec.frame_every
            self.steps = {int(step) for step in spread}

    def __call__(self, step: int, frame: Atoms) -> str | None:
        """The failure at ``frame`` (the run's ``step``), or None; frames off the plan pass."""
        if step not in self.steps:
            return None
        time_ps = float(frame.info.get("time_ps", 0.0))
        try:
            reference = label_one(frame, self.spec.spot_check)
        except CalculationFailed as error:  # the reference's SCF gave up: skip, not judge
            first = str(error).splitlines()[0] if str(error) else ""
            logger.warning("spot check at %.4g ps: %s could not label it (%s)",
                           time_ps, self.spec.spot_check, first)  # fmt: skip
            return None
        rmse = force_rmse(frame, reference)
        self.checks.append((time_ps, rmse))
        if rmse <= self.spec.spot_check_max_force_rmse:
            return None
        return (
            f"{self.spec.spot_check} disagrees with the model: force RMSE {rmse:.2f} eV/A "
            f"(limit {self.spec.spot_check_max_force_rmse:g})"
        )
