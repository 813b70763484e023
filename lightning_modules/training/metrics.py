"""Energy and force error metrics, accumulated over an epoch.

Every name carries its unit: ``{stage}_{metric}_{unit}`` for the full set,
``..._clean`` for the audit-clean subset (within the physical bound) and, for
energies, ``..._outliers`` for the robust outliers within the bound
(:mod:`lightning_modules.data.audit`):

* ``energy_mae_eV``, ``energy_rmse_eV``: eV per structure;
* ``energy_mae_meV_per_atom``, ``energy_rmse_meV_per_atom``: meV/atom;
* ``force_mae_eV_per_A``, ``force_rmse_eV_per_A``: eV/Angstrom per component (data with forces).

The same names are used by every command, MLflow run, registered version,
report and table.
"""

from __future__ import annotations

import math

import torch

SUBSETS = {
    "": "full set",
    "_clean": "audit-clean subset",
    "_outliers": "robust outliers within the bound",
}
ENERGY_METRICS = (
    "energy_mae_eV",
    "energy_rmse_eV",
    "energy_mae_meV_per_atom",
    "energy_rmse_meV_per_atom",
)
FORCE_METRICS = ("force_mae_eV_per_A", "force_rmse_eV_per_A")
UNITS = {"eV": "eV", "meV_per_atom": "meV/atom", "eV_per_A": "eV/A"}


class ErrorAccumulator:
    """Sums of absolute and squared errors for the full set and the audit-clean subset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}

    def _add(self, name: str, value: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + value

    def update(
        self,
        energy_error: torch.Tensor,
        n_atoms: torch.Tensor,
        clean: torch.Tensor,
        force_error: torch.Tensor | None = None,
        force_mask: torch.Tensor | None = None,
        force_clean: torch.Tensor | None = None,
        outliers: torch.Tensor | None = None,
    ) -> None:
        """Add a batch: energy errors [n_structures] eV, force errors [n_atoms, 3] eV/A.

        ``force_mask`` [n_atoms] marks atoms whose structure has forces;
        ``force_clean`` [n_atoms] marks atoms of audit-clean structures;
        ``outliers`` [n_structures] the robust outliers within the bound.
        """
        energy_error = energy_error.detach().double()
        per_atom = energy_error / n_atoms.double()
        subsets = [("", torch.ones_like(clean)), ("_clean", clean)]
        if outliers is not None:
            subsets.append(("_outliers", outliers))
        for suffix, mask in subsets:
            selected = energy_error[mask]
            selected_per_atom = per_atom[mask]
            self._add("n" + suffix, float(selected.numel()))
            self._add("abs" + suffix, float(selected.abs().sum()))
            self._add("sq" + suffix, float((selected**2).sum()))
            self._add("abs_atom" + suffix, float(selected_per_atom.abs().sum()))
            self._add("sq_atom" + suffix, float((selected_per_atom**2).sum()))
        if force_error is None or force_mask is None or force_clean is None:
            return
        force_error = force_error.detach().double()
        for suffix, mask in (("", force_mask), ("_clean", force_mask & force_clean)):
            selected = force_error[mask]
            self._add("nf" + suffix, float(selected.numel()))
            self._add("absf" + suffix, float(selected.abs().sum()))
            self._add("sqf" + suffix, float((selected**2).sum()))

    def compute(self, stage: str) -> dict[str, float]:
        """Metrics of everything added since the last reset; empty subsets are left out."""
        metrics: dict[str, float] = {}
        for suffix in SUBSETS:
            n = self.sums.get("n" + suffix, 0.0)
            if n > 0:
                metrics[f"{stage}_energy_mae_eV{suffix}"] = self.sums["abs" + suffix] / n
                metrics[f"{stage}_energy_rmse_eV{suffix}"] = math.sqrt(self.sums["sq" + suffix] / n)
                metrics[f"{stage}_energy_mae_meV_per_atom{suffix}"] = (
                    1000.0 * self.sums["abs_atom" + suffix] / n
                )
                metrics[f"{stage}_energy_rmse_meV_per_atom{suffix}"] = 1000.0 * math.sqrt(
                    self.sums["sq_atom" + suffix] / n
                )
            nf = self.sums.get("nf" + suffix, 0.0)
            if nf > 0:
                metrics[f"{stage}_force_mae_eV_per_A{suffix}"] = self.sums["absf" + suffix] / nf
                metrics[f"{stage}_force_rmse_eV_per_A{suffix}"] = math.sqrt(
                    self.sums["sqf" + suffix] / nf
                )
        return metrics


def metric_unit(name: str) -> str | None:
    """The unit a metric name carries (``eV``, ``meV/atom``, ``eV/A``), or None for a plain number."""
    base = next((name.removesuffix(s) for s in SUBSETS if s and name.endswith(s)), name)
    for suffix in sorted(UNITS, key=len, reverse=True):  # meV_per_atom before eV
        if base.endswith("_" + suffix):
            return UNITS[suffix]
    return None


def describe_metric(name: str) -> str:
    """A metric name with its unit and subset spelled out, e.g. for tables."""
    suffix = next((s for s in SUBSETS if s and name.endswith(s)), "")
    unit = metric_unit(name)
    return f"{name} [{unit + ', ' if unit else ''}{SUBSETS[suffix]}]"
