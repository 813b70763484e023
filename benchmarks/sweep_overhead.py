"""Seconds per trial of a short real sweep, this checkout against another, interleaved.

A trial of a sweep spends time outside its epochs: its MLflow run, set-up,
evaluation, and the garbage collection Optuna runs after it. With short
trials (the search suite's 6 epochs, pruned trials' one or two) that share
decides how many trials a core-hour buys. This runs the same sweep
(``pesweep sweep``: the demo space, ``--trials`` trials of ``--epochs``
epochs, SeB20, TPE + median, seed 0, a fresh SQLite study and MLflow store)
in fresh processes of this checkout and of ``--before DIR`` (``git worktree
add DIR REV``), ``--repeats`` times interleaved, one torch thread each.
Printed: seconds per trial (the sweep's wall time from its first trial's
start to its last one's end, over the trials), median (min-max), the
training share (the trials' own ``train_seconds`` over that time), the
sweep process's peak memory (its maximum resident set), and the medians of
the paired ratios. ``--space`` and ``--data`` choose another sweep, e.g. an
ænet space over a cutoff range on the TiO2 set (``--energy-unit ev``),
where every trial computes descriptors of its own.

    python benchmarks/sweep_overhead.py --before ../before [--trials 8] [--epochs 1] [--repeats 3]
        [--space demo] [--data SeB20] [--energy-unit hartree]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from machine import cpu_model
except ImportError:  # imported as benchmarks.sweep_overhead
    from benchmarks.machine import cpu_model

logger = logging.getLogger("sweep_overhead")
HERE = Path(__file__).resolve().parents[1]
DEFAULT_DATA = HERE.parent / "shared" / "data" / "seb_clusters" / "SeBn" / "B=20.npz"

CHILD = """
import json, resource, sys
sys.path.insert(0, {root!r})
import optuna
from hpo.cli.main import main
from hpo.study.trial_record import trial_result
status = main(["sweep", "--study", "overhead", "--space", {space!r}, "--data", {data!r},
      "--energy-unit", {energy_unit!r}, "--n-trials", "{trials}", "--max-epochs", "{epochs}",
      "--storage", "sqlite:///{folder}/studies.db", "--tracking-uri",
      "sqlite:///{folder}/mlflow.db", "--runs-dir", "{folder}/runs", "--no-progress-bar"])
if status:
    sys.exit(status)  # its one-line error is stderr's last line
trials = optuna.load_study(study_name="overhead", storage="sqlite:///{folder}/studies.db").trials
start = min(t.datetime_start for t in trials)
end = max(t.datetime_complete for t in trials)
training = sum(float(trial_result(t).get("train_seconds", 0.0)) for t in trials)
print(json.dumps({{"trials": len(trials), "seconds": (end - start).total_seconds(),
                  "training": training,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_once(root: Path, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as folder:
        code = CHILD.format(
            root=str(root),
            data=str(args.data.resolve()),  # the sweep runs in a folder of its own
            space=str(Path(args.space).resolve()) if Path(args.space).is_file() else args.space,
            energy_unit=args.energy_unit,
            trials=args.trials,
            epochs=args.epochs,
            folder=folder,
        )
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=environment,
            cwd=folder,
        )
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed in {root}: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="another checkout")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="default SeB20 (npz)")
    parser.add_argument("--space", default="demo", help="a shipped space or a space file")
    parser.add_argument("--energy-unit", default="hartree", help="of --data (SeB20: hartree)")
    parser.add_argument("--trials", type=int, default=8, help="trials of each sweep")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each trial")
    parser.add_argument("--repeats", type=int, default=3, help="sweeps of each side, interleaved")
    args = parser.parse_args(argv)
    if min(args.trials, args.epochs, args.repeats) < 1:
        parser.error("--trials, --epochs and --repeats must be at least 1")
    if not args.data.is_file():
        parser.error(f"--data {args.data}: no such file (the SeB20 set of ../shared/data)")
    if not Path(args.space).is_file() and args.space.endswith((".yaml", ".yml")):
        parser.error(f"--space {args.space}: no such space file")
    if not (args.before / "hpo").is_dir():
        parser.error(f"--before {args.before}: not a pesweep checkout")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sides = {"this checkout": HERE, "--before": args.before}
    per_trial: dict[str, list[float]] = {name: [] for name in sides}
    shares: dict[str, list[float]] = {name: [] for name in sides}
    peaks: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, root in sides.items():
            result = run_once(root, args)
            per_trial[name].append(result["seconds"] / result["trials"])
            shares[name].append(result["training"] / result["seconds"])
            peaks[name].append(result["peak_mib"])
    logger.info(
        "sweep overhead, %s, %s, one thread, %d trials of %d epoch(s) of space %s on %s per "
        "sweep, %d sweeps each, interleaved; load average %.2f at the end",
        time.strftime("%Y-%m-%d"),
        cpu_model(),
        args.trials,
        args.epochs,
        Path(args.space).name,
        args.data.name,
        args.repeats,
        os.getloadavg()[0],
    )
    for name in sides:
        logger.info(
            "%-14s s per trial %s, training share %s, peak memory MiB %s",
            name,
            spread(per_trial[name]),
            spread([100 * s for s in shares[name]]) + "%",
            spread(peaks[name]),
        )
    for label, values in (("s per trial", per_trial), ("peak memory", peaks)):
        paired = [a / b for a, b in zip(values["this checkout"], values["--before"], strict=True)]
        logger.info(
            "this checkout / --before, %s: %s (median of paired runs)", label, spread(paired)
        )


if __name__ == "__main__":
    main()
