"""Train where the model goes: MD check, label its trajectory, fine-tune, again (#36).

A model can pass the MD check in a basin of its own making (the ænet model
the #36 recipe promoted held a water's O 1.6-1.8 A from an Au atom for 250 ps,
where GFN1-xTB puts the cluster 20-30 eV higher). This loop is the user's
recipe against it, with pesweep's own commands, one round at a time:

1. ``pesweep md-check`` of the round's model (it stops only at a failure of
   the dynamics: the run explores where the model goes).
2. ``pesweep label`` of ``--frames`` frames spread over the trajectory with
   GFN1-xTB: the command also says how far the model's forces are from
   GFN1-xTB's there. A model whose check passed and whose forces agree on
   every labelled frame (RMSE at most ``--max-force-rmse``, the spot check's
   default) ends the loop: the same verdict as ``md-check --spot-check``
   with more frames.
3. ``pesweep finetune`` of the round's model on the target data and every
   round's labels so far: the next round's model.

Each step's output is its record: a rerun skips a step whose output exists,
so the loop resumes across sessions. The summary (``--record``) is rewritten
after every step.

    python benchmarks/active_md.py --start trial.ckpt --target cuau_water/target.extxyz \
        --structure cuau_water/cu7au6_6h2o.xyz --out loop \
        --record benchmarks/results/active-md/summary.json [--rounds 4] [--frames 60] [--ps 50] \
        [--calculator gfn1-xtb] [--reference cuau_water/reference_6h2o.extxyz]
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    from machine import cpu_model
except ImportError:  # imported as benchmarks.active_md
    from benchmarks.machine import cpu_model

logger = logging.getLogger("active_md")
METRIC = re.compile(r"^\s+(test_\w+): ([-\d.eE+naN]+)$")
DISAGREEMENT = re.compile(r"RMSE median ([\d.]+) eV/A, max ([\d.]+)")


def pesweep(*arguments: str) -> str:
    """Run one pesweep command (one torch thread) and return its standard output."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "hpo.cli", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=Path(__file__).resolve().parents[1],
    )
    if done.returncode not in (0, 1):  # md-check exits 1 for FAIL
        raise SystemExit(f"pesweep {arguments[0]} failed: {done.stderr.strip().splitlines()[-1]}")
    return done.stdout


def md_check(model: Path, folder: Path, args: argparse.Namespace) -> dict:
    """The round's check (or its stored report)."""
    report = folder / "md_report.json"
    if not report.exists():
        reference = ["--reference", str(args.reference)] if args.reference else []
        pesweep(
            "md-check", "--model", str(model), "--structure", str(args.structure),
            "--time-ps", str(args.ps), "--nve-ps", str(args.nve_ps), "--seed", str(args.seed),
            *reference, "--output-dir", str(folder), "--overwrite", "--no-mlflow",
        )  # fmt: skip
    return json.loads(report.read_text())


def label(trajectory: Path, out: Path, frames: int, calculator: str) -> dict:
    """The round's new labels (or the stored ones' summary)."""
    summary = out.with_suffix(".json")
    if not summary.exists():
        printed = pesweep(
            "label", "--trajectory", str(trajectory), "--calculator", calculator,
            "--frames", str(frames), "--out", str(out), "--force",
        )  # fmt: skip
        found = DISAGREEMENT.search(printed)
        rmse = {"median": float(found[1]), "max": float(found[2])} if found else {}
        summary.write_text(
            json.dumps({"printed": printed.strip().splitlines(), "force_rmse": rmse}, indent=1)
        )
    return json.loads(summary.read_text())


def finetune(model: Path, data: list[Path], folder: Path, epochs: int, seed: int) -> dict:
    """The next round's model (or the stored fine-tuning's test metrics)."""
    summary = folder / "finetune.json"
    if not summary.exists():
        printed = pesweep(
            "finetune", "--from", str(model), "--data", *map(str, data),
            "--max-epochs", str(epochs), "--seed", str(seed), "--no-tracking",
            "--output-dir", str(folder), "--overwrite",
        )  # fmt: skip
        metrics = {m[1]: float(m[2]) for line in printed.splitlines() if (m := METRIC.match(line))}
        summary.write_text(json.dumps({"test": metrics, "data": list(map(str, data))}, indent=1))
    return json.loads(summary.read_text())


def record(path: Path | None, summary: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=1))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", type=Path, required=True, help="the first round's checkpoint")
    parser.add_argument("--target", type=Path, required=True, help="the fine-tuning data")
    parser.add_argument("--structure", type=Path, required=True, help="the MD's start")
    parser.add_argument("--reference", type=Path, help="the calculator's own MD (pair distances)")
    parser.add_argument(
        "--calculator", default="gfn1-xtb", help="the target's calculator (default gfn1-xtb)"
    )
    parser.add_argument("--out", type=Path, required=True, help="the rounds' folders")
    parser.add_argument("--record", type=Path, help="the summary JSON (rewritten each step)")
    parser.add_argument("--rounds", type=int, default=4, help="at most this many checks")
    parser.add_argument("--frames", type=int, default=60, help="labelled frames per round")
    parser.add_argument("--ps", type=float, default=50.0, help="NVT ps of each check")
    parser.add_argument("--nve-ps", type=float, default=1.0, help="NVE ps after it")
    parser.add_argument("--epochs", type=int, default=100, help="epochs of each fine-tuning")
    parser.add_argument("--seed", type=int, default=0, help="velocities and fine-tuning")
    parser.add_argument(
        "--max-force-rmse", type=float, default=1.0, help="eV/A: labelled frames that agree"
    )
    args = parser.parse_args(argv)
    for name in ("start", "target", "structure", "reference", "out", "record"):
        if getattr(args, name) is not None:  # the commands run in the repository's root
            setattr(args, name, getattr(args, name).resolve())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.start.is_file():
        raise SystemExit(f"--start {args.start}: no such checkpoint")
    for name in ("target", "structure"):
        if not getattr(args, name).is_file():
            raise SystemExit(f"--{name} {getattr(args, name)}: no such file")
    summary: dict = {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_model(),
        "start": str(args.start),
        "settings": {
            k: v
            for k, v in vars(args).items()
            if k in ("frames", "ps", "nve_ps", "epochs", "seed", "max_force_rmse", "calculator")
        },
        "rounds": [],
    }
    model, labels = args.start, []
    for number in range(args.rounds):
        folder = args.out / f"round-{number}"
        report = md_check(model, folder / "md", args)
        entry = {"model": str(model), "md": report["summary"], "stable_ps": report["stable_ps"]}
        summary["rounds"].append(entry)
        logger.info("round %d: %s", number, report["summary"])
        labels.append(folder / "labels.extxyz")
        entry["labels"] = label(
            folder / "md" / "trajectory.extxyz", labels[-1], args.frames, args.calculator
        )
        worst = entry["labels"]["force_rmse"].get("max", float("inf"))
        entry["passed"] = report["passed"] and worst <= args.max_force_rmse
        logger.info(
            "round %d: %s against the model: %s", number, args.calculator,
            entry["labels"]["force_rmse"],
        )  # fmt: skip
        record(args.record, summary)
        if entry["passed"] or number == args.rounds - 1:
            break
        tuned = finetune(
            model, [args.target, *labels], args.out / f"round-{number + 1}" / "model",
            args.epochs, args.seed,
        )  # fmt: skip
        entry["next_model_test"] = tuned["test"]
        record(args.record, summary)
        model = args.out / f"round-{number + 1}" / "model" / "best.ckpt"
    return summary


if __name__ == "__main__":
    main()
