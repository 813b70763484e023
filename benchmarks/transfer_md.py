"""Does transfer learning give a stable model where scratch does not, at equal RMSE? (#20)

The ænet transfer-learning study's question, on GFN1-xTB data made here
(``benchmarks/make_cuau_water.py``): pretrain an ænet model and a SchNet model
on the broad set, on a random subset of it and on the subset of structures
with only Cu, Au, O and H (what ``pesweep subset --elements Cu Au O H --mode
only`` writes); fine-tune each on the Cu7Au6 + water frames; train the same
architecture from scratch on them; compare the test RMSEs over seeds (paired
t-test, as ``pesweep compare``); run the MD check on the Cu7Au6 + 6 H2O
cluster with every model. One table: model, test E/F RMSE, stable ps, first
failure.

    python benchmarks/make_cuau_water.py --out cuau_water
    python benchmarks/transfer_md.py --data cuau_water
    python benchmarks/transfer_md.py --data cuau_water --smoke   # tiny budget, one seed
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpo.workflows.finetune import finetune  # noqa: E402
from hpo.workflows.md_gate import run_md_check  # noqa: E402
from lightning_modules.data import load_data  # noqa: E402
from lightning_modules.data.subsets import (  # noqa: E402
    random_subset,
    select_by_elements,
    write_extxyz,
)
from lightning_modules.md import MDSpec  # noqa: E402
from lightning_modules.training.config import make_config  # noqa: E402
from lightning_modules.training.run import train  # noqa: E402

logger = logging.getLogger("transfer_md")

TARGET_ELEMENTS = ("Cu", "Au", "O", "H")
ARCHITECTURES = {
    "aenet": dict(
        model="aenet",
        model_config=dict(
            species=["H", "C", "N", "O", "Ni", "Cu", "Ag", "Pt", "Au"],
            radial_order=10,
            radial_cutoff=6.0,
            angular_order=4,
            angular_cutoff=4.0,
            hidden_layers=2,
            hidden_width=15,
            activation="tanh",
        ),
        lr=3e-3,
        optimizer="adamw",
        weight_decay=1e-5,
    ),
    "schnet": dict(
        model="schnet",
        model_config=dict(n_atom_basis=32, n_interactions=3, n_rbf=20, cutoff=5.0),
        lr=1e-3,
    ),
}


def pretraining_sets(pretrain: Path, folder: Path, seed: int) -> dict[str, Path]:
    """The broad set, its {Cu, Au, O, H}-only subset, and a random subset of the same size."""
    data = load_data(pretrain)
    by_elements = select_by_elements(data, TARGET_ELEMENTS, "only")
    sets = {
        "broad": pretrain,
        "elements": write_extxyz(data.subset(by_elements), folder / "subset_elements.extxyz"),
        "random": write_extxyz(
            data.subset(random_subset(data, len(by_elements), seed)), folder / "subset_random.xyz"
        ),
    }
    logger.info(
        "pretraining sets: broad %d, elements-only %d, random %d structures",
        len(data),
        len(by_elements),
        len(by_elements),
    )
    return sets


def trained(architecture: str, data: Path, epochs: int, seed: int, folder: Path) -> dict:
    values = dict(ARCHITECTURES[architecture])
    values.update(
        data=[str(data)],
        alpha=0.5,
        batch_size=32,
        max_epochs=epochs,
        seed=seed,
        progress_bar=False,
        output_dir=str(folder),
    )
    result = train(make_config(values), log_audit=False)
    return {"checkpoint": result.checkpoint_path, "metrics": result.test_metrics}


def md_outcome(checkpoint: str, spec: MDSpec, folder: Path, reference: str | None) -> dict:
    check = run_md_check(checkpoint, spec, folder, log_to_mlflow=False, reference=reference)
    distance = check.rdf_distance  # to the reference's pair distributions, when there is one
    return {
        "stable_ps": check.report.stable_ps,
        "passed": check.report.passed,
        "failure": check.report.reason,
        "rdf_distance": distance.get("mean", float("nan")),
        "steps_per_second": check.report.steps_per_second,
    }


def summarise(rows: dict[str, list[dict]], seeds: list[int]) -> list[str]:
    """The table: one line per (architecture, start), means ± std over seeds, p vs scratch."""
    lines = [
        "| model | pretrained on | test E RMSE meV/atom | test F RMSE eV/Å | p (E) vs scratch | "
        "MD stable ps (each seed) | passed | first failure |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, runs in rows.items():
        architecture, start = key.split("/")
        energy = [r["metrics"]["test_energy_rmse_meV_per_atom"] for r in runs]
        force = [r["metrics"].get("test_force_rmse_eV_per_A", float("nan")) for r in runs]
        scratch = rows.get(f"{architecture}/scratch")
        p = float("nan")
        if start != "scratch" and scratch and len(seeds) > 1:
            p = float(
                stats.ttest_rel(
                    [r["metrics"]["test_energy_rmse_meV_per_atom"] for r in scratch], energy
                ).pvalue
            )
        stable = ", ".join(f"{r['md']['stable_ps']:.2f}" for r in runs)
        passed = sum(r["md"]["passed"] for r in runs)
        failures = [r["md"]["failure"] for r in runs if r["md"]["failure"]]
        lines.append(
            f"| {architecture} | {start} | {np.mean(energy):.1f} ± {np.std(energy):.1f} | "
            f"{np.mean(force):.3f} ± {np.std(force):.3f} | {p:.3g} | {stable} | "
            f"{passed}/{len(runs)} | {failures[0][:70] if failures else '-'} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="make_cuau_water.py's output folder")
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="fine-tuning and scratch seeds"
    )
    parser.add_argument(
        "--pretrain-seed",
        type=int,
        default=0,
        help="seed of the pretraining and of the random subset (each start is pretrained once)",
    )
    parser.add_argument("--pretrain-epochs", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=40, help="fine-tuning and scratch epochs")
    parser.add_argument("--target-frames", type=int, default=300, help="of the target set")
    parser.add_argument("--md-ps", type=float, default=2.0, help="NVT ps of the MD check")
    parser.add_argument("--nve-ps", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="transfer_md.json", help="the rows as JSON")
    parser.add_argument("--smoke", action="store_true", help="2 epochs, one seed, 0.02 ps MD")
    args = parser.parse_args(argv)
    if args.pretrain_seed < 0 or min(args.seeds) < 0:
        parser.error("--seeds and --pretrain-seed take seeds of 0 or more")
    if args.smoke:
        args.seeds, args.pretrain_epochs, args.epochs = [0], 2, 2
        args.md_ps, args.nve_ps, args.target_frames = 0.02, 0.0, 60
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("lightning", "lightning.pytorch", "hpo", "lightning_modules"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    folder = Path(args.data)
    work = Path(tempfile.mkdtemp(prefix="transfer-md-"))
    started = time.perf_counter()
    target_frames = load_data(folder / "target.extxyz")
    target = write_extxyz(
        target_frames.subset(np.arange(min(args.target_frames, len(target_frames)))),
        work / "target.extxyz",
    )
    spec = MDSpec(structure=str(folder / "cu7au6_6h2o.xyz"), time_ps=args.md_ps, nve_ps=args.nve_ps)
    reference_file = folder / "reference_6h2o.extxyz"
    reference = str(reference_file) if reference_file.exists() else None
    sets = pretraining_sets(folder / "pretrain.extxyz", work, seed=args.pretrain_seed)
    rows: dict[str, list[dict]] = {}
    for architecture in args.architectures:
        pretrained = {
            name: trained(
                architecture,
                path,
                args.pretrain_epochs,
                args.pretrain_seed,
                work / f"{architecture}-pre-{name}",
            )
            for name, path in sets.items()
        }
        for seed in args.seeds:
            runs = {
                "scratch": trained(
                    architecture, target, args.epochs, seed, work / f"{architecture}-scratch-{seed}"
                )
            }
            for name, model in pretrained.items():
                tuned = finetune(
                    model["checkpoint"],
                    [str(target)],
                    "",
                    max_epochs=args.epochs,
                    seed=seed,
                    output_dir=str(work / f"{architecture}-{name}-{seed}"),
                    track=False,
                )
                runs[name] = {
                    "checkpoint": tuned.result.checkpoint_path,
                    "metrics": tuned.result.test_metrics,
                }
            for name, run in runs.items():
                run["md"] = md_outcome(
                    run["checkpoint"],
                    spec,
                    work / f"md-{architecture}-{name}-{seed}",
                    reference,
                )
                run["seed"] = seed
                rows.setdefault(f"{architecture}/{name}", []).append(run)
                logger.info(
                    "%s/%s seed %d: E RMSE %.1f meV/atom, MD %s",
                    architecture,
                    name,
                    seed,
                    run["metrics"]["test_energy_rmse_meV_per_atom"],
                    run["md"],
                )
    minutes = (time.perf_counter() - started) / 60
    print(
        f"transfer and MD stability, {time.strftime('%Y-%m-%d')}, {args.threads} thread(s), "
        f"{len(target_frames)} target frames (first {args.target_frames} used), seeds "
        f"{args.seeds}, pretraining {args.pretrain_epochs} epochs (seed {args.pretrain_seed}), "
        "fine-tuning and scratch "
        f"{args.epochs} epochs, MD check {args.md_ps:g} ps NVT + {args.nve_ps:g} ps NVE at "
        f"300 K on Cu7Au6+6H2O; {minutes:.0f} min"
    )
    for line in summarise(rows, args.seeds):
        print(line)
    Path(args.out).write_text(
        json.dumps(
            {k: [{**r, "checkpoint": str(r["checkpoint"])} for r in v] for k, v in rows.items()},
            indent=1,
            default=float,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
