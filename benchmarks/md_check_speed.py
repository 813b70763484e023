"""How fast pesweep's MD check runs, against another checkout, on the same trajectory.

The ænet study's check is 250 ps of a 31-atom cluster: 500,000 steps, so
steps per second decide whether a sweep can afford it. This runs
``--steps`` NVT steps of pesweep's MD check (300 K, Bussi, 0.5 fs, float64,
one thread) of the six-water cluster with one model, as a fresh process per
run, from this checkout and from ``--before DIR`` (an earlier commit:
``git worktree add DIR REV``), interleaved ``--repeats`` times. Printed:
steps/s, median (min-max) of each, the median of the paired ratios, and the
largest difference between the two checkouts' trajectories of seed 0
(positions of the frames every ``--frame-every`` steps), which is zero when
a change keeps the arithmetic. ``--replicas K`` adds this checkout's check
of K velocity seeds at once (one batched model call per step, the long
check's way), counted in steps of all seeds per second.

    python benchmarks/md_check_speed.py --data cuau_water --checkpoint MODEL.ckpt --before DIR
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

import numpy as np

try:
    from machine import cpu_model
except ImportError:  # imported as benchmarks.md_check_speed
    from benchmarks.machine import cpu_model

logger = logging.getLogger("md_check_speed")
HERE = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import ase.io, numpy as np, torch
torch.set_num_threads(1)
from lightning_modules.md import MDSpec
from lightning_modules.md.simulation import run_stability_check
from lightning_modules.training.calculator import PesweepCalculator
calculator = PesweepCalculator.from_checkpoint({checkpoint!r}, dtype="float64"{options})
spec = MDSpec(time_ps={steps} * 0.5 / 1000, nve_ps=0.0, seed=0, frame_every={every})
structure = ase.io.read({structure!r})
start = time.perf_counter()
if {replicas} == 1:
    reports = [run_stability_check(structure, calculator, spec)]
else:
    from lightning_modules.md.replicas import run_replicas
    reports = run_replicas(structure, calculator.energies_forces, spec, list(range({replicas})))
seconds = time.perf_counter() - start
np.save({out!r}, np.array([frame.positions for frame in reports[0].frames]))
steps = sum(report.steps for report in reports)
print(json.dumps({{"steps": steps, "seconds": seconds, "summary": reports[0].summary()}}))
"""


def run_once(
    root: Path, args: argparse.Namespace, out: Path, replicas: int = 1, compiled: bool = True
) -> dict:
    code = CHILD.format(
        options="" if compiled else ", compiled=False",
        root=str(root),
        replicas=replicas,
        checkpoint=str(args.checkpoint),
        steps=args.steps,
        every=args.frame_every,
        structure=str(Path(args.data) / "cu7au6_6h2o.xyz"),
        out=str(out),
    )
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment
    )
    if done.returncode != 0:
        raise SystemExit(f"the MD check failed in {root}: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="make_cuau_water.py's --out folder")
    parser.add_argument("--checkpoint", required=True, type=Path, help="a trained model (.ckpt)")
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    parser.add_argument("--steps", type=int, default=1000, help="MD steps of each run")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each kind, interleaved")
    parser.add_argument(
        "--replicas", type=int, default=3, help="velocity seeds of the batched run (1: none)"
    )
    parser.add_argument("--frame-every", type=int, default=40, help="steps between compared frames")
    parser.add_argument(
        "--pytorch", action="store_true", help="add this checkout with the model step in PyTorch"
    )
    args = parser.parse_args(argv)
    if min(args.steps, args.repeats, args.replicas) < 1:
        parser.error("--steps, --repeats and --replicas must be at least 1")
    if not args.checkpoint.is_file():
        parser.error(f"--checkpoint {args.checkpoint}: no such file")
    if not (Path(args.data) / "cu7au6_6h2o.xyz").is_file():
        parser.error(f"{args.data} lacks cu7au6_6h2o.xyz; make it with make_cuau_water.py")
    if args.before is not None and not (args.before / "lightning_modules").is_dir():
        parser.error(f"--before {args.before}: not a pesweep checkout")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runs = {"this checkout, one seed": (HERE, 1, True)}
    if args.replicas > 1:
        runs[f"this checkout, {args.replicas} seeds at once"] = (HERE, args.replicas, True)
    if args.pytorch:
        runs["this checkout, one seed, PyTorch step"] = (HERE, 1, False)
    if args.before is not None:
        runs["--before, one seed"] = (args.before, 1, True)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory(prefix="md-speed-") as folder:
        trajectories = {}
        for repeat in range(args.repeats):
            for index, (name, (root, replicas, compiled)) in enumerate(runs.items()):
                out = Path(folder) / f"run-{index}-{repeat}.npy"
                result = run_once(root, args, out, replicas, compiled)
                rates[name].append(result["steps"] / result["seconds"])
                trajectories[name] = np.load(out)
    logger.info(
        "MD check speed, %s, %s, one thread, %d steps of Cu7Au6 + 6 H2O per seed, %d runs "
        "each, interleaved; load average %.2f at the end; last run: %s",
        time.strftime("%Y-%m-%d"),
        cpu_model(),
        args.steps,
        args.repeats,
        os.getloadavg()[0],
        result["summary"],
    )
    for name, values in rates.items():
        logger.info("%-36s steps/s (all seeds) %s", name, spread(values))
    if args.before is None:
        return
    before = "--before, one seed"
    for name in runs:
        if name == before:
            continue
        paired = [a / b for a, b in zip(rates[name], rates[before], strict=True)]
        ours, theirs = trajectories[name], trajectories[before]
        frames = min(len(ours), len(theirs))
        difference = float(np.abs(ours[:frames] - theirs[:frames]).max()) if frames else 0.0
        logger.info(
            "%s / %s: %s (median of paired runs); seed 0's positions differ by at most "
            "%.2g A over %d steps",
            name,
            before,
            spread(paired),
            difference,
            (frames - 1) * args.frame_every,
        )


if __name__ == "__main__":
    main()
