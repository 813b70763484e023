"""Data audit: energy distributions per composition and flags for implausible labels.

Two independent flags, per composition (structures with the same formula):

* ``above_bound`` (the *flagged* structures): energy more than
  ``bound_ev_per_atom`` (default 5 eV/atom, about a cohesive energy) above the
  lowest structure. A label that far up lies beyond the cluster's
  atomization energy and cannot be a bound state. The **audit-clean subset**
  is everything else: it is defined by this physical bound alone.
* ``robust_outlier``: modified z-score 0.6745 |E - median| / MAD above
  ``mad_threshold`` (default 3.5, Iglewicz and Hoaglin), for compositions
  with at least ``MIN_GROUP_FOR_MAD`` structures (fewer make no statistic).
  A broad but real energy range has such structures (on one cluster set, 38
  of 1500 sat 28 eV above the minimum and were predicted within 0.004-1.07
  eV), so those within the bound (:attr:`AuditReport.outliers`) stay in the
  clean subset and are reported apart: their count here, their MAE as the
  ``_outliers`` metrics.

On ``SeBn/B=20.npz`` a quarter of the structures are flagged above the bound;
every model's error there is dominated by them, so metrics are reported on
the full set and on the audit-clean subset, both labelled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from lightning_modules.data.atoms import AtomsData

DEFAULT_BOUND_EV_PER_ATOM = 5.0
DEFAULT_MAD_THRESHOLD = 3.5
MIN_GROUP_FOR_MAD = 10
MAX_LISTED_COMPOSITIONS = 12


@dataclass(frozen=True)
class CompositionSummary:
    """Energy distribution (eV, relative to the lowest structure) of one composition."""

    formula: str
    n_structures: int
    n_atoms: int
    min_energy: float
    relative_percentiles: dict[str, float]
    n_above_bound: int
    n_robust_outliers: int
    examples: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`audit_energies`; ``flagged`` is [n_structures] bool."""

    above_bound: np.ndarray
    robust_outlier: np.ndarray
    compositions: list[CompositionSummary]
    bound_ev_per_atom: float
    mad_threshold: float

    @property
    def flagged(self) -> np.ndarray:
        """Labels beyond the physical bound: outside the audit-clean subset."""
        return self.above_bound

    @property
    def clean(self) -> np.ndarray:
        """The audit-clean subset: every structure within the physical bound."""
        return ~self.above_bound

    @property
    def outliers(self) -> np.ndarray:
        """Robust outliers within the bound: clean, but reported on their own."""
        return self.robust_outlier & ~self.above_bound

    def as_dict(self) -> dict[str, object]:
        """Plain summary for logging (MLflow params/artifacts)."""
        return {
            "n_structures": int(self.flagged.size),
            "n_flagged": int(self.flagged.sum()),
            "n_above_bound": int(self.above_bound.sum()),
            "n_robust_outliers": int(self.robust_outlier.sum()),
            "n_outliers_within_bound": int(self.outliers.sum()),
            "bound_ev_per_atom": self.bound_ev_per_atom,
            "mad_threshold": self.mad_threshold,
            "compositions": [summary.__dict__ for summary in self.compositions],
        }

    def headline(self) -> str:
        """The audit in one line (commands that train print this; ``pesweep audit`` the table)."""
        return (
            f"audit: {int(self.flagged.sum())} of {self.flagged.size} structures flagged: more "
            f"than {self.bound_ev_per_atom:g} eV/atom above the lowest of their composition, "
            f"beyond the physical bound (outside the audit-clean subset); "
            f"{int(self.outliers.sum())} more are robust outliers (modified z-score > "
            f"{self.mad_threshold:g}) within the bound: kept, their errors reported apart"
        )

    def format(self) -> str:
        """Human-readable table: the headline, then one line per composition."""
        lines = [self.headline()]
        listed = sorted(
            self.compositions,
            key=lambda s: (-(s.n_above_bound + s.n_robust_outliers), -s.n_structures),
        )[:MAX_LISTED_COMPOSITIONS]
        if len(listed) < len(self.compositions):
            lines.append(
                f"  ({len(self.compositions)} compositions; listing the {len(listed)} with the "
                f"most flags and structures)"
            )
        for summary in listed:
            p = summary.relative_percentiles
            lines.append(
                f"  {summary.formula:>10s}  {summary.n_structures:6d} structures, "
                f"E - E_min [eV]: median {p['50']:.2f}, 90% {p['90']:.2f}, "
                f"max {p['100']:.2f}; above bound {summary.n_above_bound}, "
                f"outliers {summary.n_robust_outliers}"
            )
            for index, relative in summary.examples:
                lines.append(f"      e.g. structure {index}: {relative:.1f} eV above the minimum")
        return "\n".join(lines)


def audit_energies(
    data: AtomsData,
    bound_ev_per_atom: float = DEFAULT_BOUND_EV_PER_ATOM,
    mad_threshold: float = DEFAULT_MAD_THRESHOLD,
    n_examples: int = 3,
) -> AuditReport:
    """Flag implausible energy labels per composition (see the module docstring)."""
    formulas = np.asarray(data.formulas())
    above_bound = np.zeros(len(data), dtype=bool)
    robust_outlier = np.zeros(len(data), dtype=bool)
    summaries = []
    for formula in sorted(set(formulas.tolist())):
        members = np.flatnonzero(formulas == formula)
        energy = data.energy[members]
        n_atoms = int(data.n_atoms[members[0]])
        relative = energy - energy.min()
        high = relative / n_atoms > bound_ev_per_atom
        median = np.median(energy)
        mad = np.median(np.abs(energy - median))
        if mad > 0 and len(members) >= MIN_GROUP_FOR_MAD:
            outlier = 0.6745 * np.abs(energy - median) / mad > mad_threshold
        else:
            outlier = np.zeros_like(high)
        above_bound[members] = high
        robust_outlier[members] = outlier
        worst = np.argsort(-relative)[: n_examples if (high | outlier).any() else 0]
        summaries.append(
            CompositionSummary(
                formula=formula,
                n_structures=len(members),
                n_atoms=n_atoms,
                min_energy=float(energy.min()),
                relative_percentiles={
                    str(q): float(np.percentile(relative, q)) for q in (50, 75, 90, 100)
                },
                n_above_bound=int(high.sum()),
                n_robust_outliers=int(outlier.sum()),
                examples=[(int(members[k]), float(relative[k])) for k in worst],
            )
        )
    return AuditReport(
        above_bound=above_bound,
        robust_outlier=robust_outlier,
        compositions=summaries,
        bound_ev_per_atom=bound_ev_per_atom,
        mad_threshold=mad_threshold,
    )


def log_audit(logger: logging.Logger, report: AuditReport) -> None:
    """The audit's headline at INFO; the table per composition only at DEBUG (``-v``)."""
    logger.info("%s", report.headline())
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s", "\n".join(report.format().splitlines()[1:]))
