"""What one MD check found: pass or fail, when and why, and the trajectory it kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from lightning_modules.md.rdf import pair_distributions

Progress = Callable[[float, float], None]  # (simulated ps, steps per second)


@dataclass
class StabilityReport:
    """The outcome of one check; ``frames`` hold the trajectory (energies and forces attached)."""

    passed: bool
    reason: str
    failure_ps: float | None
    stable_ps: float
    total_ps: float
    steps: int
    seconds: float
    max_temperature: float
    mean_temperature: float
    nve_drift_eV_per_atom: float | None
    frames: list[Atoms] = field(default_factory=list, repr=False)
    spot_checks: list[tuple[float, float]] = field(default_factory=list)  # (ps, force RMSE eV/A)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        """One line: PASS/FAIL, the stable time and the reason."""
        if self.passed:
            checked = ""
            if self.spot_checks:
                worst = max(rmse for _, rmse in self.spot_checks)
                checked = (
                    f"; the reference agrees on {len(self.spot_checks)} frames (force RMSE up to "
                    f"{worst:.2f} eV/A)"
                )
            return (
                f"PASS: stable for the whole {self.total_ps:g} ps (max temperature "
                f"{self.max_temperature:.0f} K, {self.steps_per_second:.0f} steps/s){checked}"
            )
        return f"FAIL at {self.failure_ps:.4g} ps: {self.reason}"

    def rdf(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Partial pair-distance distributions over the trajectory's frames."""
        numbers = self.frames[0].numbers if self.frames else np.zeros(0, dtype=int)
        return pair_distributions(numbers, (frame.positions for frame in self.frames))

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "failure_ps": self.failure_ps,
            "stable_ps": self.stable_ps,
            "total_ps": self.total_ps,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "steps_per_second": round(self.steps_per_second, 2),
            "max_temperature_K": round(self.max_temperature, 2),
            "mean_temperature_K": round(self.mean_temperature, 2),
            "nve_drift_eV_per_atom": self.nve_drift_eV_per_atom,
            "frames": len(self.frames),
            "spot_checks": [
                {"time_ps": time_ps, "force_rmse_eV_per_A": round(rmse, 4)}
                for time_ps, rmse in self.spot_checks
            ],
        }
