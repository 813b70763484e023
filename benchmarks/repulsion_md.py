"""What the ZBL core repulsion does to the MD check of models already trained: same weights, with and without.

A model's ``core_repulsion`` changes no training structure whose pairs all
lie beyond its onset (thermal data: see ``lightning_modules.models.repulsion``),
so a model trained without it and the same weights with it are the two fits
of one training. This runs pesweep's MD check (the ænet study's: six-water
Cu7Au6 cluster, 300 K, Bussi, 0.5 fs, float64, one thread; velocity seeds
run at once as in the long check) of each ``--checkpoint`` without and with
``--onset``, and prints per model and seed the stable time, the failure and
the first Au-O and Cu-O peaks. It first checks the premise: the closest
pair of every ``--data`` structure, in covalent radii sums, must lie at or
beyond the onset.

    python benchmarks/repulsion_md.py --data cuau_water --checkpoint A.ckpt [B.ckpt ...] \
        [--onset 0.8] [--ps 50] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    from machine import cpu_model
    from transfer_cells import first_peaks
except ImportError:  # imported as benchmarks.repulsion_md
    from benchmarks.machine import cpu_model
    from benchmarks.transfer_cells import first_peaks

from lightning_modules.md import MDSpec  # noqa: E402
from lightning_modules.md.criteria import covalent_sums, pair_distances  # noqa: E402
from lightning_modules.md.replicas import run_replicas  # noqa: E402
from lightning_modules.models.potential import Potential  # noqa: E402
from lightning_modules.training.calculator import PesweepCalculator  # noqa: E402
from lightning_modules.training.task import load_task  # noqa: E402

logger = logging.getLogger("repulsion_md")


def closest_share(path: Path) -> float:
    """The closest pair of any structure in ``path``, in sums of covalent radii."""
    closest = np.inf
    for atoms in ase.io.read(path, ":"):
        shares = pair_distances(atoms.positions) / covalent_sums(atoms.numbers)
        np.fill_diagonal(shares, np.inf)
        closest = min(closest, float(shares.min()))
    return closest


def with_repulsion(model: Potential, onset: float) -> Potential:
    """``model``'s weights in a model built with the repulsion at ``onset`` (0: none),
    whichever it was trained with."""
    rebuilt = type(model)(dataclasses.replace(model.settings, core_repulsion=onset))
    rebuilt.load_state_dict(model.state_dict())
    return rebuilt


def checked(checkpoint: str, onset: float, spec: MDSpec, structure, seeds: list[int]) -> list:
    """The MD check of one model's velocity seeds, with the repulsion at ``onset`` (0: none)."""
    model = with_repulsion(load_task(checkpoint).model, onset)  # the same weights either way
    calculator = PesweepCalculator(model, dtype="float64")
    return run_replicas(structure, calculator.energies_forces, spec, seeds)


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="make_cuau_water.py's --out")
    parser.add_argument("--checkpoint", nargs="+", required=True, help="trained models")
    parser.add_argument("--onset", type=float, default=0.8, help="covalent radii sums")
    parser.add_argument("--ps", type=float, default=50.0, help="NVT time of the check")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    structure_file, target = args.data / "cu7au6_6h2o.xyz", args.data / "target.extxyz"
    missing = [p.name for p in (structure_file, target) if not p.exists()]
    if missing:
        parser.error(f"{args.data} lacks {', '.join(missing)}; make it with make_cuau_water.py")
    closest = closest_share(target)
    if closest < args.onset:
        parser.error(
            f"the target's closest pair is {closest:.3f} covalent radii sums, below the onset "
            f"{args.onset}: the repulsion would change the training; lower --onset"
        )
    spec = MDSpec(structure=str(structure_file), time_ps=args.ps)
    structure = ase.io.read(structure_file)
    start = time.perf_counter()
    lines = [
        f"core repulsion in the MD check, {datetime.date.today()}, {cpu_model()}: onset "
        f"{args.onset} covalent radii sums (the target's closest pair: {closest:.3f}); "
        f"{args.ps:g} ps NVT + {spec.nve_ps:g} ps NVE, velocity seeds {args.seeds}",
        "| model | repulsion | stable ps (each seed) | passed | failures | Au-O peak Å | "
        "Cu-O peak Å |",
        "|---|---|---|---|---|---|---|",
    ]
    for checkpoint in args.checkpoint:
        for onset in (0.0, args.onset):
            reports = checked(checkpoint, onset, spec, structure, args.seeds)
            peaks = [first_peaks(report.rdf()) for report in reports]
            lines.append(
                f"| {checkpoint} | {onset or 'none'} | "
                + ", ".join(f"{r.stable_ps:.1f}" for r in reports)
                + f" | {sum(r.passed for r in reports)}/{len(reports)} | "
                + "; ".join(r.reason for r in reports if r.reason)
                + " | "
                + ", ".join(f"{p.get('Au-O', float('nan')):.2f}" for p in peaks)
                + " | "
                + ", ".join(f"{p.get('Cu-O', float('nan')):.2f}" for p in peaks)
                + " |"
            )
            logger.info(lines[-1])
    lines.append(f"{(time.perf_counter() - start) / 60:.1f} min")
    print("\n".join(lines))  # noqa: T201 - a benchmark prints its table
    return lines


if __name__ == "__main__":
    main()
