"""How long the command line takes to answer ``--help`` and a bad option, against Optuna's and MLflow's CLIs.

A user who mistypes an option should hear about it at once: pesweep parses
its arguments before it imports torch, Lightning or MLflow. Each command
runs ``--repeats`` times as a fresh process, the commands interleaved
(pesweep, optuna, mlflow, pesweep, ...); printed: the median wall time with
its min-max, and its ratio to the peers' ``--help`` (medians of the paired
rounds). ``python -c pass`` is the floor of any Python command here.
``--before DIR`` adds ``python -m hpo.cli sweep --help`` run from another
checkout of pesweep (an earlier commit: ``git worktree add DIR REV``) and
from this one, interleaved with the rest, and their paired ratio.

    python benchmarks/cli_startup.py [--repeats 7] [--before DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger("cli_startup")


def _executable(name: str) -> str:
    """``name`` from this interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(
            f"error: {name} is not installed here; install the project first (pip install -e .)"
        )
    return found


HERE = Path(__file__).resolve().parents[1]
BEFORE, NOW = "sweep --help, the --before checkout", "sweep --help, this checkout"


def from_checkout(root: Path) -> list[str]:
    """``python -m hpo.cli sweep --help`` with the packages of the checkout ``root``."""
    code = f"import sys; sys.path.insert(0, {str(root)!r}); from hpo.cli.main import main; main()"
    return [sys.executable, "-c", code, "sweep", "--help"]


def commands(before: Path | None = None) -> dict[str, list[str]]:
    pesweep, optuna, mlflow = _executable("pesweep"), _executable("optuna"), _executable("mlflow")
    compared = {BEFORE: from_checkout(before), NOW: from_checkout(HERE)} if before else {}
    return {
        **compared,
        "python -c pass": [sys.executable, "-c", "pass"],
        "pesweep --help": [pesweep, "--help"],
        "pesweep sweep --help": [pesweep, "sweep", "--help"],
        "pesweep sweep --n-trials -3 (the error)": [
            pesweep,
            "sweep",
            "--study",
            "s",
            "--n-trials",
            "-3",
        ],
        "pesweep train --help": [pesweep, "train", "--help"],
        "optuna --help": [optuna, "--help"],
        "mlflow --help": [mlflow, "--help"],
    }


def time_once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=7, help="rounds of every command, interleaved"
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="another checkout of pesweep (git worktree add DIR REV) to time against this one",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.before is not None and not (args.before / "hpo" / "cli" / "main.py").is_file():
        parser.error(f"--before {args.before}: not a pesweep checkout (no hpo/cli/main.py)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    table = commands(args.before)
    for argv_ in table.values():  # a first, unmeasured round fills the file cache
        time_once(argv_)
    times: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(args.repeats):
        for name, argv_ in table.items():
            times[name].append(time_once(argv_))
    load = os.getloadavg()[0]
    logger.info(
        "CLI start-up, %d rounds interleaved, load average %.2f at the end", args.repeats, load
    )
    logger.info(
        "%-42s %-22s %-16s %s",
        "command",
        "seconds: median (min-max)",
        "/ optuna --help",
        "/ mlflow --help",
    )
    for name, values in times.items():
        ratios = [
            statistics.median(a / b for a, b in zip(values, times[peer], strict=True))
            for peer in ("optuna --help", "mlflow --help")
        ]
        logger.info("%-42s %-22s %-16.2f %.2f", name, spread(values), ratios[0], ratios[1])
    if args.before is not None:
        paired = [a / b for a, b in zip(times[NOW], times[BEFORE], strict=True)]
        logger.info("this checkout / the --before one, median of paired rounds: %s", spread(paired))


if __name__ == "__main__":
    main()
