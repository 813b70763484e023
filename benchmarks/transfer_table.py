"""The table of ``transfer_md.py``: test errors with paired tests against scratch, and MD.

Rows are (architecture, start): scratch, or transfer from one pretraining
subset. The test against scratch pairs by fine-tuning seed (the seed decides
the split, so both saw the same test frames): per seed, the transferred
models' mean over the pretraining seeds minus scratch's, with the mean
difference, its 95% t-interval and the paired t-test's p.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import stats

ENERGY = "test_energy_rmse_meV_per_atom"
FORCE = "test_force_rmse_eV_per_A"


def paired(differences: Sequence[float]) -> str:
    """``mean [low, high], p`` of paired differences (nan where fewer than two)."""
    values = np.asarray(differences, dtype=float)
    if len(values) < 2:
        return f"{values.mean():+.3g} (one seed)" if len(values) else "-"
    mean, spread = float(values.mean()), float(values.std(ddof=1))
    if spread == 0:
        return f"{mean:+.3g} (no spread)"
    half = float(stats.t.ppf(0.975, len(values) - 1)) * spread / math.sqrt(len(values))
    p = float(stats.ttest_1samp(values, 0.0).pvalue)
    return f"{mean:+.3g} [{mean - half:+.3g}, {mean + half:+.3g}], p {p:.2g}"


def mean_std(values: Sequence[float], digits: int) -> str:
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


class TransferTable:
    """The finished cells of one run, by key (``fit/...``, ``md/...``), and their table."""

    def __init__(self, args: argparse.Namespace, reference_peaks: dict[str, float]) -> None:
        self.args = args
        self.reference_peaks = reference_peaks
        self.pretrained: dict[str, dict] = {}
        self.fitted: dict[str, dict] = {}
        self.md: dict[str, dict] = {}
        self.long_md: dict[str, dict] = {}

    def names(self, architecture: str, start: str, seed: int) -> list[str]:
        """The models of one row and fine-tuning seed (one per pretraining seed for transfer)."""
        if start == "scratch":
            return [f"{architecture}/scratch/seed-{seed}"]
        return [f"{architecture}/{start}/pre-{pre}/seed-{seed}" for pre in self.args.pretrain_seeds]

    def metric(self, name: str, metric: str) -> float | None:
        fit = self.fitted.get(f"fit/{name}")
        return None if fit is None else float(fit["metrics"].get(metric, math.nan))

    def best_models(self) -> list[str]:
        """Per architecture, the best scratch and the best transferred model by MD: the
        longest stable time, then the lowest test energy RMSE (only models checked)."""
        best = []
        for architecture in self.args.architectures:
            for transfer in (False, True):
                starts = self.args.subsets if transfer else ["scratch"]
                candidates = [
                    name
                    for start in starts
                    for seed in self.args.seeds
                    for name in self.names(architecture, start, seed)
                    if f"md/{name}" in self.md and f"fit/{name}" in self.fitted
                ]
                if candidates:
                    best.append(
                        min(
                            candidates,
                            key=lambda n: (
                                -self.md[f"md/{n}"]["stable_ps"],
                                self.metric(n, ENERGY),
                            ),
                        )
                    )
        return best

    def differences(self, architecture: str, start: str, metric: str) -> list[float]:
        """Per fine-tuning seed: the mean over pretraining seeds minus scratch's."""
        differences = []
        for seed in self.args.seeds:
            scratch = self.metric(self.names(architecture, "scratch", seed)[0], metric)
            values = [self.metric(n, metric) for n in self.names(architecture, start, seed)]
            if scratch is not None and values and None not in values:
                differences.append(statistics.mean(values) - scratch)  # type: ignore[arg-type]
        return differences

    def header(self, minutes: float) -> str:
        a = self.args
        return (
            f"transfer and MD stability, {time.strftime('%Y-%m-%d')}: pretraining "
            f"{a.pretrain_epochs} epochs (seeds {a.pretrain_seeds}), fine-tuning and scratch "
            f"{a.epochs} epochs (seeds {a.seeds}); MD check of Cu7Au6 + 6 H2O at 300 K "
            f"(Bussi, 0.5 fs): {a.md_ps:g} ps NVT + {a.nve_ps:g} ps NVE for every model, "
            f"{a.long_md_ps:g} ps with velocity seeds {a.velocity_seeds} for the best; "
            f"{minutes:.1f} min this run"
        )

    def lines(self) -> list[str]:
        lines = [
            "| model | start | n | test E RMSE meV/atom | test F RMSE eV/Å | "
            "E - scratch [95%], p | F - scratch [95%], p | MD stable ps, median (min-max) | "
            "passed | most common failure | Au-O peak Å | Cu-O peak Å |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for architecture in self.args.architectures:
            for start in ["scratch", *self.args.subsets]:
                lines.append(self.row(architecture, start))
        if self.reference_peaks:
            peaks = self.reference_peaks
            lines.append(
                "| GFN1-xTB | reference trajectory | | | | | | | | | "
                f"{peaks.get('Au-O', math.nan):.2f} | {peaks.get('Cu-O', math.nan):.2f} |"
            )
        lines += ["", *self.long_lines()]
        return lines

    def row(self, architecture: str, start: str) -> str:
        names = [name for seed in self.args.seeds for name in self.names(architecture, start, seed)]
        fitted = [name for name in names if f"fit/{name}" in self.fitted]
        energy = [self.metric(name, ENERGY) for name in fitted]
        force = [self.metric(name, FORCE) for name in fitted]
        checked = [self.md[f"md/{name}"] for name in names if f"md/{name}" in self.md]
        md = self.md_columns(checked)
        versus = ("-", "-")
        if start != "scratch":
            versus = tuple(
                paired(self.differences(architecture, start, metric)) for metric in (ENERGY, FORCE)
            )
        return (
            f"| {architecture} | {start} | {len(fitted)} | "
            f"{mean_std([e for e in energy if e is not None], 2)} | "
            f"{mean_std([f for f in force if f is not None], 3)} | {versus[0]} | {versus[1]} | "
            f"{md} |"
        )

    @staticmethod
    def md_columns(checked: list[dict]) -> str:
        if not checked:
            return "- | - | - | - | -"
        stable = [run["stable_ps"] for run in checked]
        failures = Counter(
            run["failure"].split(" at ")[0] for run in checked if run["failure"]
        ).most_common(1)
        peaks = {
            pair: [run["first_peaks"].get(pair, math.nan) for run in checked]
            for pair in ("Au-O", "Cu-O")
        }
        return (
            f"{statistics.median(stable):.2f} ({min(stable):.2f}-{max(stable):.2f}) | "
            f"{sum(run['passed'] for run in checked)}/{len(checked)} | "
            f"{failures[0][0] if failures else '-'} | "
            f"{np.nanmedian(peaks['Au-O']):.2f} | {np.nanmedian(peaks['Cu-O']):.2f}"
        )

    def long_lines(self) -> list[str]:
        if not self.long_md:
            return [f"No {self.args.long_md_ps:g} ps check has finished."]
        lines = [
            f"{self.args.long_md_ps:g} ps checks of the best models (velocity seeds "
            f"{self.args.velocity_seeds}):",
            "",
            "| model | test E RMSE meV/atom | stable ps (each velocity seed) | passed | "
            "first failure | Au-O peak Å | Cu-O peak Å |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in self.best_models():
            if f"md-long/{name}" not in self.long_md:
                continue
            runs = self.long_md[f"md-long/{name}"]["runs"]
            failures = [run["failure"] for run in runs if run["failure"]]
            au_o = np.nanmedian([run["first_peaks"].get("Au-O", math.nan) for run in runs])
            cu_o = np.nanmedian([run["first_peaks"].get("Cu-O", math.nan) for run in runs])
            lines.append(
                f"| {name} | {self.metric(name, ENERGY):.2f} | "
                f"{', '.join(format(run['stable_ps'], '.1f') for run in runs)} | "
                f"{sum(run['passed'] for run in runs)}/{len(runs)} | "
                f"{failures[0][:70] if failures else '-'} | {au_o:.2f} | {cu_o:.2f} |"
            )
        return lines
