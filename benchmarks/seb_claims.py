"""Which of the SchNet_IIA study's claims hold on its own data: one line per claim, from finished cells.

Reads the cells that ``ablation_seb.py`` and ``source_tasks_seb.py`` record
with ``--cells-dir`` (nothing is trained) and tests, on the full test set and
on its audit-clean part, each claim with the effect measured over seeds, its
95% interval (Student's t over the seeds' paired differences) and a verdict:
**holds** (the interval lies on the claimed side of zero), **does not hold**
(it lies on the other side), **cannot tell** (it spans zero, or one seed)
or **not run yet** (no finished pair of cells).

* IIA lowers the MAE (the paper: SchNet 0.118 -> +IIA 0.103 Ha/atom);
* SMU speeds convergence by 23.47%: here the epochs a training needs to reach a
  fixed validation MAE (the worst best validation MAE of the runs compared, so
  that every run reaches it; validation energy MAE per structure, full set), and
  the speed-up per seed is 1 - epochs(SMU) / epochs(shifted softplus);
* transfer learning (the continuous chain SeB16 -> SeB19) lowers the MAE;
* SeB19 is the best source task (lower MAE than every other source);
* SchNet_IIA (IIA + SMU + TL) is the best row (lower MAE than every other row);
* RMSE is close to MAE, as published (RMSE/MAE at most 1.03 in the paper's
  tables; "close" here: the interval of the ratio lies below 1.05).

    python benchmarks/seb_claims.py [--ablation DIR] [--sources DIR] [--json FILE] [--per-claim]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy import stats

RESULTS = Path(__file__).resolve().parent / "results"
HARTREE_EV = 27.211386
SUBSETS = {"full": "", "audit-clean": "_clean"}
FIXED_THRESHOLD_NOTE = "epochs to the worst best validation MAE of the runs compared"
CLOSE_RATIO = 1.05


@dataclass(frozen=True)
class Interval:
    """A mean over seeds with its 95% interval (Student's t), and how many seeds."""

    mean: float
    low: float
    high: float
    n: int

    def shown(self, digits: int = 4, percent: bool = False) -> str:
        if self.n == 0:
            return "no finished pairs"
        scale, unit = (100.0, "%") if percent else (1.0, "")
        if self.n == 1:
            return f"{self.mean * scale:.{digits}g}{unit} (1 seed: no interval)"
        return (
            f"{self.mean * scale:.{digits}g}{unit} "
            f"({self.low * scale:.{digits}g} to {self.high * scale:.{digits}g}{unit}, n={self.n})"
        )


def interval(values: Sequence[float]) -> Interval:
    """The mean of ``values`` with its two-sided 95% interval."""
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = statistics.fmean(values)
    if len(values) == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Interval(mean, mean - half, mean + half, len(values))


def verdict(effect: Interval, claimed_below: float = 0.0, lower_is_claim: bool = True) -> str:
    """holds / does not hold / cannot tell, for a claim that ``effect`` lies below (or above) a bound."""
    if effect.n == 0:
        return "not run yet"
    if effect.n < 2 or not math.isfinite(effect.low):
        return "cannot tell"
    if lower_is_claim:
        if effect.high < claimed_below:
            return "holds"
        return "does not hold" if effect.low >= claimed_below else "cannot tell"
    if effect.low > claimed_below:
        return "holds"
    return "does not hold" if effect.high <= claimed_below else "cannot tell"


def read_cells(folder: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """Finished (row, seed) cells of a benchmark's cells folder: row -> seed -> result."""
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted(folder.glob("row-*/seed-*.json")) if folder.is_dir() else []:
        record = json.loads(path.read_text())
        result = record["result"]
        rows.setdefault(result["row"], {})[int(result["seed"])] = result
    return rows


def mae_ha_per_atom(result: dict[str, Any], suffix: str) -> float:
    return result["metrics"][f"test_energy_mae_meV_per_atom{suffix}"] / 1000.0 / HARTREE_EV


def paired(
    rows: dict[str, dict[int, dict[str, Any]]],
    first: str,
    second: str,
    measure: Callable[[dict[str, Any], dict[str, Any]], float],
) -> Interval:
    """``measure(first's run, second's run)`` over the seeds both rows have finished."""
    seeds = sorted(set(rows.get(first, {})) & set(rows.get(second, {})))
    return interval([measure(rows[first][s], rows[second][s]) for s in seeds])


def epochs_to(curve: Sequence[float], threshold: float) -> float:
    """The first epoch (1-based) whose validation MAE is at most ``threshold``."""
    for epoch, value in enumerate(curve, start=1):
        if value <= threshold:
            return float(epoch)
    return math.nan


def speed_up(rows: dict[str, dict[int, dict[str, Any]]], plain: str, smu: str) -> Interval:
    """1 - epochs(SMU) / epochs(plain) to a fixed validation MAE, per seed."""
    seeds = sorted(set(rows.get(plain, {})) & set(rows.get(smu, {})))
    if not seeds:
        return interval([])
    runs = [rows[row][s] for row in (plain, smu) for s in seeds]
    threshold = max(min(run["curve"]) for run in runs)
    return interval(
        [
            1.0
            - epochs_to(rows[smu][s]["curve"], threshold)
            / epochs_to(rows[plain][s]["curve"], threshold)
            for s in seeds
        ]
    )


def claim_lines(ablation: Path, sources: Path) -> list[dict[str, str]]:
    """One line per (claim, contrast): the effect and the verdict on both subsets."""
    rows, source_rows = read_cells(ablation), read_cells(sources)
    # the row from nothing is the ablation's +IIA+SMU training (source_tasks_seb.py
    # --reference-cells reads it from there)
    source_rows.setdefault("from nothing", rows.get("+IIA+SMU", {}))
    lines: list[dict[str, str]] = []

    def add(claim: str, contrast: str, published: str, effects: dict[str, tuple[str, str]]):
        line = {"claim": claim, "contrast": contrast, "published": published}
        for subset, (effect, said) in effects.items():
            line[f"{subset}: effect (95% interval)"] = effect
            line[f"{subset}: verdict"] = said
        lines.append(line)

    def lowers(claim: str, before: str, after: str, published: str, table=rows) -> None:
        effects = {}
        for subset, suffix in SUBSETS.items():

            def change(a: dict[str, Any], b: dict[str, Any], suffix: str = suffix) -> float:
                return mae_ha_per_atom(b, suffix) - mae_ha_per_atom(a, suffix)

            difference = paired(table, before, after, change)
            unit = " Ha/atom" if difference.n else ""
            effects[subset] = (f"{difference.shown()}{unit}", verdict(difference))
        add(claim, f"{after} - {before}", published, effects)

    lowers("IIA lowers the MAE", "SchNet", "+IIA", "-0.015 Ha/atom")
    lowers("IIA lowers the MAE", "+SMU", "+IIA+SMU", "-0.016 Ha/atom")
    for plain, smu in (("SchNet", "+SMU"), ("+IIA", "+IIA+SMU")):
        effect = speed_up(rows, plain, smu)
        said = verdict(effect, 0.0, lower_is_claim=False)
        shown = f"{effect.shown(3, percent=True)} fewer epochs"
        add(
            "SMU speeds convergence",
            f"{smu} against {plain} ({FIXED_THRESHOLD_NOTE}; validation set)",
            "23.47% faster",
            {
                "full": (shown, said),
                "audit-clean": ("(the validation curve is the full set's)", "-"),
            },
        )
    for before, after, published in (
        ("+IIA", "+IIA+TL", "-0.010 Ha/atom"),
        ("+SMU", "+SMU+TL", "-0.010 Ha/atom"),
        ("+IIA+SMU", "+IIA+SMU+TL (SchNet_IIA)", "-0.008 Ha/atom"),
    ):
        lowers("transfer learning lowers the MAE", before, after, published)
    best_source = "SeB19"
    for other in ("B20", "B21", "SeB19-O", "from nothing"):
        lowers(
            "SeB19 is the best source task",
            other,
            best_source,
            "lowest of the sources",
            source_rows,
        )
    best = "+IIA+SMU+TL (SchNet_IIA)"
    for other in ("SchNet", "+IIA", "+SMU", "+IIA+SMU", "+IIA+TL", "+SMU+TL"):
        lowers("SchNet_IIA is the best row", other, best, "lowest of the rows")
    effects = {}
    for subset, suffix in SUBSETS.items():
        ratios = interval(
            [
                run["metrics"][f"test_energy_rmse_meV_per_atom{suffix}"]
                / run["metrics"][f"test_energy_mae_meV_per_atom{suffix}"]
                for by_seed in rows.values()
                for run in by_seed.values()
            ]
        )
        effects[subset] = (
            f"RMSE/MAE {ratios.shown(3)}",
            verdict(ratios, CLOSE_RATIO, lower_is_claim=True),
        )
    add("RMSE is close to MAE", "every finished run", "RMSE/MAE 1.00-1.03", effects)
    return lines


def per_claim(lines: list[dict[str, str]]) -> list[dict[str, str]]:
    """One line per claim (the README's table): per subset, the first contrast's effect and a
    verdict over all its contrasts: holds if every one holds, does not hold if any does not,
    not run yet if none ran, else cannot tell."""
    claims: dict[str, list[dict[str, str]]] = {}
    for line in lines:
        claims.setdefault(line["claim"], []).append(line)
    summary = []
    for claim, contrasts in claims.items():
        first = contrasts[0]
        line = {
            "claim": claim,
            "published": first["published"],
            "effect of": first["contrast"],
            "contrasts": str(len(contrasts)),
        }
        for subset in SUBSETS:
            said = [c[f"{subset}: verdict"] for c in contrasts if c[f"{subset}: verdict"] != "-"]
            if not said:
                overall = "-"
            elif all(v == "holds" for v in said):
                overall = "holds"
            elif "does not hold" in said:
                overall = "does not hold"
            elif all(v == "not run yet" for v in said):
                overall = "not run yet"
            else:
                overall = "cannot tell"
            line[f"{subset}: effect (95% interval)"] = first[f"{subset}: effect (95% interval)"]
            line[f"{subset}: verdict (all contrasts)"] = overall
        summary.append(line)
    return summary


def markdown(lines: list[dict[str, str]]) -> str:
    columns = list(lines[0])
    body = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    body += ["| " + " | ".join(line[c] for c in columns) + " |" for line in lines]
    return "\n".join(body)


def main(argv: list[str] | None = None) -> list[dict[str, str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--ablation",
        type=Path,
        default=RESULTS / "seb-ablation-100ep",
        help="the ablation's --cells-dir (default: the 100-epoch run's)",
    )
    parser.add_argument(
        "--sources",
        type=Path,
        default=RESULTS / "seb-source-tasks-100ep",
        help="the source-task table's --cells-dir (default: the 100-epoch run's)",
    )
    parser.add_argument("--json", type=Path, help="also write the lines as JSON to this file")
    parser.add_argument(
        "--per-claim",
        action="store_true",
        help="one line per claim (its first contrast's effect, a verdict over all its contrasts)",
    )
    args = parser.parse_args(argv)
    if not args.ablation.is_dir():
        parser.error(f"--ablation {args.ablation} is no folder of finished cells")
    lines = claim_lines(args.ablation, args.sources)
    if args.per_claim:
        lines = per_claim(lines)
    print(markdown(lines))  # noqa: T201 - a benchmark prints its table
    if args.json:
        args.json.write_text(json.dumps(lines, indent=1) + "\n")
    return lines


if __name__ == "__main__":
    main()
