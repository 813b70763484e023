"""SchNet training/inference throughput and peak memory: pesweep against schnetpack 2.1.1.

Same data (SeBn/B=20.npz, energies converted from Hartree to eV for both),
same split (seed 0, 8:1:1), same hyperparameters (n_atom_basis 128,
n_interactions 6, n_rbf 40, cutoff 6 A, batch 20, Adam lr 5e-4), same thread
count, each side in its own process (so peak RSS is its own). Data loading is
inside the timed loop for both: schnetpack rebuilds neighbour lists on every
load (its ASENeighborList transform); pesweep computes them once per cutoff.

    bash benchmarks/install_peers.sh          # schnetpack, without its torch pin
    python benchmarks/schnet_throughput.py [--steps 40] [--threads 2] [--accuracy-epochs 10]

Prints both sides and the ratios. Goal: at least 2x schnetpack's training
throughput with the same model, and far better accuracy for the same epochs.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "seb_clusters" / "SeBn" / "B=20.npz"
HYPER = dict(n_atom_basis=128, n_interactions=6, n_rbf=40, cutoff=6.0)
BATCH = 20
LR = 5e-4
HARTREE_IN_EV = 27.211386


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_loop(batches, step, warmup: int = 3) -> float:
    """Seconds per call of ``step`` over ``batches`` (an iterator factory), after a warm-up."""
    iterator = batches()
    for _ in range(warmup):
        step(next(iterator))
    count, start = 0, time.perf_counter()
    for batch in iterator:
        step(batch)
        count += 1
    return (time.perf_counter() - start) / max(count, 1)


def limited(loader_factory, n: int):
    def batches():
        produced = 0
        while produced < n:
            for batch in loader_factory():
                yield batch
                produced += 1
                if produced >= n:
                    return

    return batches


def run_pesweep(args: argparse.Namespace) -> dict:
    from lightning_modules.training.config import make_config
    from lightning_modules.training.datamodule import PotentialDataModule
    from lightning_modules.training.run import build_task, train
    from lightning_modules.training.task import PotentialTask

    config = make_config(
        dict(
            data=[str(args.data)],
            energy_unit="hartree",
            model_config=dict(HYPER),
            batch_size=BATCH,
            lr=LR,
            max_epochs=max(args.accuracy_epochs, 1),
            progress_bar=False,
            output_dir=tempfile.mkdtemp(prefix="bench-pesweep-"),
            lr_patience=1000,
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = PotentialDataModule(
            str(args.data), "hartree", cutoff=6.0, batch_size=BATCH, seed=0
        )
        module.setup()
    task: PotentialTask = build_task(config, module)
    optimizer = torch.optim.Adam(task.parameters(), lr=LR)
    task.train()

    def train_step(batch):
        optimizer.zero_grad()
        loss = task._common_step(batch, "train")
        loss.backward()
        optimizer.step()

    train_seconds = time_loop(limited(module.train_dataloader, args.steps + 3), train_step)
    task.eval()

    def infer(batch):
        with torch.no_grad():
            task(batch)

    infer_seconds = time_loop(limited(module.val_dataloader, args.steps + 3), infer)
    result = {
        "train_structures_per_s": BATCH / train_seconds,
        "train_ms_per_step": 1000 * train_seconds,
        "inference_structures_per_s": BATCH / infer_seconds,
    }
    if args.accuracy_epochs:
        start = time.perf_counter()
        outcome = train(config, datamodule=module, log_audit=False)
        result["accuracy_seconds"] = time.perf_counter() - start
        result["test_energy_mae_eV"] = outcome.test_metrics["test_energy_mae"]
        result["test_energy_mae_eV_clean"] = outcome.test_metrics["test_energy_mae_clean"]
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def run_schnetpack(args: argparse.Namespace) -> dict:
    import typing

    import torch.utils.data.dataloader as dataloader_module

    if not hasattr(dataloader_module, "T_co"):  # removed in torch 2.13; schnetpack imports it
        dataloader_module.T_co = typing.TypeVar("T_co", covariant=True)  # type: ignore[attr-defined]
    import schnetpack as spk
    import schnetpack.transform as trn
    from ase import Atoms
    from torch.utils.data import Subset

    from lightning_modules.data.splits import split_indices

    with np.load(args.data) as archive:
        positions, energies, numbers = (
            archive["R"],
            archive["E"][:, 0] * HARTREE_IN_EV,
            archive["z"],
        )
    folder = Path(tempfile.mkdtemp(prefix="bench-schnetpack-"))
    dataset = spk.data.ASEAtomsData.create(
        str(folder / "seb20.db"), distance_unit="Ang", property_unit_dict={"energy": "eV"}
    )
    dataset.add_systems(
        property_list=[{"energy": np.array([e])} for e in energies],
        atoms_list=[Atoms(numbers=numbers, positions=p) for p in positions],
    )
    dataset = spk.data.ASEAtomsData(
        str(folder / "seb20.db"), transforms=[trn.ASENeighborList(cutoff=6.0), trn.CastTo32()]
    )
    split = split_indices(len(energies), (0.8, 0.1, 0.1), seed=0)

    def loader(name: str, shuffle: bool):
        return lambda: spk.data.AtomsLoader(
            Subset(dataset, split[name].tolist()), batch_size=BATCH, shuffle=shuffle
        )

    model = spk.model.NeuralNetworkPotential(
        representation=spk.representation.SchNet(
            n_atom_basis=HYPER["n_atom_basis"],
            n_interactions=HYPER["n_interactions"],
            radial_basis=spk.nn.GaussianRBF(n_rbf=HYPER["n_rbf"], cutoff=HYPER["cutoff"]),
            cutoff_fn=spk.nn.CosineCutoff(HYPER["cutoff"]),
        ),
        input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=HYPER["n_atom_basis"], output_key="energy")],
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()

    def train_step(batch):
        optimizer.zero_grad()
        target = batch["energy"].clone()  # schnetpack writes its prediction into the batch
        loss = torch.nn.functional.mse_loss(model(batch)["energy"], target)
        loss.backward()
        optimizer.step()

    train_seconds = time_loop(limited(loader("train", True), args.steps + 3), train_step)
    model.eval()

    def infer(batch):
        with torch.no_grad():
            model(batch)

    infer_seconds = time_loop(limited(loader("val", False), args.steps + 3), infer)
    result = {
        "train_structures_per_s": BATCH / train_seconds,
        "train_ms_per_step": 1000 * train_seconds,
        "inference_structures_per_s": BATCH / infer_seconds,
    }
    if args.accuracy_epochs:
        start = time.perf_counter()
        best_val, best_state = float("inf"), None
        for _ in range(args.accuracy_epochs):
            model.train()
            for batch in loader("train", True)():
                train_step(batch)
            model.eval()
            val = mean_absolute_error(model, loader("val", False)())
            if val < best_val:
                best_val = val
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(best_state)
        result["accuracy_seconds"] = time.perf_counter() - start
        result["test_energy_mae_eV"] = mean_absolute_error(model, loader("test", False)())
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def mean_absolute_error(model, batches) -> float:
    errors = []
    with torch.no_grad():
        for batch in batches:
            target = batch["energy"].clone()  # schnetpack writes its prediction into the batch
            errors.append((model(batch)["energy"] - target).abs())
    return float(torch.cat(errors).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--accuracy-epochs",
        type=int,
        default=0,
        help="also train this many epochs per side and compare test MAE",
    )
    parser.add_argument("--side", choices=["pesweep", "schnetpack"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    if args.side:
        runner = run_pesweep if args.side == "pesweep" else run_schnetpack
        print(json.dumps(runner(args)))
        return
    if not args.data.exists():
        sys.exit(f"{args.data} is absent: the shared SeB_n data must be beside this checkout")
    results = {}
    for side in ("pesweep", "schnetpack"):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--side",
                side,
                "--data",
                str(args.data),
                "--steps",
                str(args.steps),
                "--threads",
                str(args.threads),
                "--accuracy-epochs",
                str(args.accuracy_epochs),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if done.returncode != 0:
            sys.exit(f"{side} failed:\n{done.stderr[-3000:]}")
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
    ours, peer = results["pesweep"], results["schnetpack"]
    print(
        f"SchNet on {args.data.name} ({HYPER}, batch {BATCH}, {args.threads} threads, "
        f"torch {torch.__version__})"
    )
    print(f"{'metric':32s} {'pesweep':>12s} {'schnetpack':>12s} {'ratio':>8s}")
    for key in (
        "train_structures_per_s",
        "train_ms_per_step",
        "inference_structures_per_s",
        "peak_rss_mib",
        "accuracy_seconds",
        "test_energy_mae_eV",
    ):
        if key in ours and key in peer:
            print(f"{key:32s} {ours[key]:12.2f} {peer[key]:12.2f} {ours[key] / peer[key]:8.2f}")
    if "test_energy_mae_eV_clean" in ours:
        print(
            f"pesweep test MAE on the audit-clean subset: {ours['test_energy_mae_eV_clean']:.3f} eV"
        )


if __name__ == "__main__":
    main()
