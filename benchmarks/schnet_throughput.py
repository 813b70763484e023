"""SchNet training on cluster data: pesweep against schnetpack 2.1.1 run as its documentation says.

What a user waits for: wall time per epoch (training and validation, data
loading included, inside Lightning's ``fit``) and the test energy MAE at equal
epochs, on the full test set and on its audit-clean part (the same split and
clean mask for both), plus peak memory. Isolated training-step and inference
throughput follow as secondary rows.

The peer follows schnetpack's own training tutorial: ``ASEAtomsData`` through
``AtomsDataModule`` with the transforms ``ASENeighborList``, ``RemoveOffsets``
(mean energy per atom) and ``CastTo32``, one data-loading worker; the model
``NeuralNetworkPotential`` (``PairwiseDistances``, ``SchNet``, ``Atomwise``;
postprocessors ``CastTo64`` and ``AddOffsets``); an ``AtomisticTask`` with one
``ModelOutput`` (MSE on the energy, weight 1, MAE metric), Adam at the same
lr with ReduceLROnPlateau (factor 0.5, patience 10) on ``val_loss``; run by a
Lightning ``Trainer`` (``pytorch_lightning``, which schnetpack uses) with validation
every epoch and the best checkpoint kept.
pesweep runs ``lightning_modules.training.run.train``. Same model (n_atom_basis
128, 6 interactions, 40 Gaussians, cutoff 6 A), batch 20, split (seed 0, 8:1:1),
thread count; each run in its own process (its peak RSS is its own). Repeat r
seeds both sides with r: pesweep's ``seed`` for its weights and epoch order
(its split stays the shared seed-0 split), schnetpack through
``seed_everything(r, workers=True)``, as its ``spktrain`` does with ``seed``.

Every (data set, threads) cell runs every side ``--repeats`` times, interleaved
(pesweep, schnetpack, schnetpack-ftz, pesweep, ...); the table gives medians
with min-max and the ratio of the paired runs (median, min-max). The load
average and the CPU are printed first: run it on a quiet machine.

Subnormal numbers: SchNet's Gaussian expansion holds values far below 1e-38
(Gaussians many widths away from the distance). On CPUs with slow subnormal
arithmetic every matrix product that reads them is several times slower.
pesweep's expansion returns exact zeros there; schnetpack's recipe does not.
The second peer, ``schnetpack-ftz``, is the same recipe run after
``torch.set_flush_denormal(True)``, so the table shows how much of the
difference is subnormal arithmetic and how much is the rest.

    bash benchmarks/install_peers.sh          # schnetpack, without its torch pin
    python benchmarks/schnet_throughput.py [--datasets SeBn/B=20,Bn/B=20] [--threads 1,2]
        [--repeats 3] [--epochs 3] [--peers schnetpack,schnetpack-ftz] [--accelerator cpu|gpu]
        [--smoke]

Goal: at least 2x the peer's epoch throughput at equal accuracy per epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    from machine import cpu_model
except ImportError:  # imported as benchmarks.schnet_throughput
    from benchmarks.machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
SEB = REPO.parent / "shared" / "data" / "seb_clusters"
HYPER = dict(n_atom_basis=128, n_interactions=6, n_rbf=40, cutoff=6.0)
BATCH = 20
LR = 5e-4
PRIMARY = (
    ("seconds_per_epoch", "wall s per epoch (train + val)", "lower"),
    ("test_energy_mae_eV", "test energy MAE, eV (full set)", "lower"),
    ("test_energy_mae_eV_clean", "test energy MAE, eV (audit-clean)", "lower"),
    ("peak_rss_mib", "peak memory, MiB", "lower"),
)
PEERS = ("schnetpack", "schnetpack-ftz")
SECONDARY = (
    ("train_structures_per_s", "training step, structures/s", "higher"),
    ("inference_structures_per_s", "inference, structures/s", "higher"),
)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def epoch_clock(lightning: Any) -> Any:
    """A callback of ``lightning`` (``lightning.pytorch`` for pesweep, ``pytorch_lightning``
    for schnetpack) recording the wall seconds of every training epoch, validation included
    (Lightning 2 calls ``on_train_epoch_end`` after the epoch's validation)."""

    class EpochClock(lightning.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._start = 0.0

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    return EpochClock()


def time_steps(loader: Any, step: Any, n: int, warmup: int = 3) -> float:
    """Seconds per call of ``step`` over ``n`` batches of ``loader`` (cycled), after a warm-up."""

    def batches():
        while True:
            yield from loader

    iterator = batches()
    for _ in range(warmup):
        step(next(iterator))
    start = time.perf_counter()
    for _ in range(n):
        step(next(iterator))
    return (time.perf_counter() - start) / n


def load_arrays(path: Path, limit: int | None) -> tuple[Any, np.ndarray, np.ndarray]:
    """The data set (eV) for pesweep, its split and audit-clean mask (shared by both sides)."""
    from lightning_modules.data import load_data
    from lightning_modules.data.audit import audit_energies
    from lightning_modules.data.splits import split_indices

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader's notes on the SeB files
        data = load_data(str(path), "hartree")
    if limit:
        data = data.subset(np.arange(min(limit, len(data))))
    split = split_indices(len(data), (0.8, 0.1, 0.1), seed=0)
    return data, split, audit_energies(data).clean


def run_pesweep(args: argparse.Namespace) -> dict:
    from lightning_modules.training.config import make_config
    from lightning_modules.training.run import build_datamodule, build_task, train
    from lightning_modules.training.task import PotentialTask

    data, split, _ = load_arrays(args.data, args.limit)
    settings = dict(
        model_config=dict(HYPER),
        batch_size=BATCH,
        lr=LR,
        max_epochs=args.epochs,
        progress_bar=False,
        output_dir=tempfile.mkdtemp(prefix="bench-pesweep-"),
        accelerator=args.accelerator,
    )
    config = make_config({**settings, "seed": args.seed})
    shared_split = build_datamodule(make_config({**settings, "seed": 0}), data)
    import lightning.pytorch

    clock = epoch_clock(lightning.pytorch)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = train(config, callbacks=[clock], datamodule=shared_split)
    result = {
        "total_seconds": time.perf_counter() - start,
        "seconds_per_epoch": sum(clock.seconds) / len(clock.seconds),
        "test_energy_mae_eV": outcome.test_metrics["test_energy_mae_eV"],
        "test_energy_mae_eV_clean": outcome.test_metrics.get("test_energy_mae_eV_clean", np.nan),
    }
    module = build_datamodule(config, data)
    module.setup()
    task: PotentialTask = build_task(config, module)
    optimizer = task.configure_optimizers()["optimizer"]  # as pesweep trains (fused Adam)
    task.train()

    def train_step(batch):
        optimizer.zero_grad()
        task._common_step(batch, "train").backward()
        optimizer.step()

    seconds = time_steps(module.train_dataloader(), train_step, args.steps)
    result["train_structures_per_s"] = BATCH / seconds
    task.eval()

    def infer(batch):
        with torch.no_grad():
            task(batch)

    result["inference_structures_per_s"] = BATCH / time_steps(
        module.val_dataloader(), infer, args.steps
    )
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def _import_schnetpack() -> Any:
    import typing

    import torch.utils.data.dataloader as dataloader_module

    if not hasattr(dataloader_module, "T_co"):  # removed in torch 2.13; schnetpack imports it
        dataloader_module.T_co = typing.TypeVar("T_co", covariant=True)  # type: ignore[attr-defined]
    import schnetpack

    return schnetpack


def run_schnetpack(args: argparse.Namespace) -> dict:
    import pytorch_lightning as pl  # schnetpack's own Lightning package, as in its tutorial
    import torchmetrics
    from ase import Atoms
    from pytorch_lightning.callbacks import ModelCheckpoint

    spk = _import_schnetpack()
    import schnetpack.transform as trn

    pl.seed_everything(args.seed, workers=True)  # as schnetpack's spktrain does with its seed
    data, split, clean = load_arrays(args.data, args.limit)
    folder = Path(tempfile.mkdtemp(prefix="bench-schnetpack-"))
    database = spk.data.ASEAtomsData.create(
        str(folder / "data.db"), distance_unit="Ang", property_unit_dict={"energy": "eV"}
    )
    offsets = data.atom_offsets
    database.add_systems(
        property_list=[{"energy": np.array([e])} for e in data.energy],
        atoms_list=[
            Atoms(numbers=data.numbers[a:b], positions=data.positions[a:b])
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ],
    )
    np.savez(
        folder / "split.npz", train_idx=split["train"], val_idx=split["val"], test_idx=split["test"]
    )
    datamodule = spk.data.AtomsDataModule(
        str(folder / "data.db"),
        batch_size=BATCH,
        split_file=str(folder / "split.npz"),
        transforms=[
            trn.ASENeighborList(cutoff=HYPER["cutoff"]),
            trn.RemoveOffsets("energy", remove_mean=True),
            trn.CastTo32(),
        ],
        property_units={"energy": "eV"},
        num_workers=1,
        load_properties=["energy"],
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
        postprocessors=[trn.CastTo64(), trn.AddOffsets("energy", add_mean=True)],
    )
    task = spk.task.AtomisticTask(
        model=model,
        outputs=[
            spk.task.ModelOutput(
                name="energy",
                loss_fn=torch.nn.MSELoss(),
                loss_weight=1.0,
                metrics={"MAE": torchmetrics.MeanAbsoluteError()},
            )
        ],
        optimizer_cls=torch.optim.Adam,
        optimizer_args={"lr": LR},
        scheduler_cls=torch.optim.lr_scheduler.ReduceLROnPlateau,
        scheduler_args={"factor": 0.5, "patience": 10},
        scheduler_monitor="val_loss",
    )
    checkpoint = ModelCheckpoint(dirpath=folder, monitor="val_loss", save_top_k=1)
    clock = epoch_clock(pl)
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=1,
        callbacks=[checkpoint, clock],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(folder),
    )
    start = time.perf_counter()
    with contextlib.chdir(folder):  # schnetpack writes its splitting.lock into the working dir
        trainer.fit(task, datamodule=datamodule)
    best = task
    best.load_state_dict(torch.load(checkpoint.best_model_path, weights_only=False)["state_dict"])
    best.eval()
    errors = []
    with torch.no_grad():
        for batch in datamodule.test_dataloader():  # in the order of the split's test indices
            target = batch["energy"].clone()  # offsets removed; the prediction writes the batch
            errors.append((best.predict_without_postprocessing(batch)["energy"] - target).abs())
    error = torch.cat(errors).double().numpy()
    result = {
        "total_seconds": time.perf_counter() - start,
        "seconds_per_epoch": sum(clock.seconds) / len(clock.seconds),
        "test_energy_mae_eV": float(error.mean()),
        "test_energy_mae_eV_clean": float(error[clean[split["test"]]].mean())
        if clean[split["test"]].any()
        else np.nan,
    }
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()

    def train_step(batch):
        optimizer.zero_grad()
        target = batch["energy"].clone()
        torch.nn.functional.mse_loss(model(batch)["energy"], target).backward()
        optimizer.step()

    seconds = time_steps(datamodule.train_dataloader(), train_step, args.steps)
    result["train_structures_per_s"] = BATCH / seconds
    model.eval()

    def infer(batch):
        with torch.no_grad():
            model(batch)

    result["inference_structures_per_s"] = BATCH / time_steps(
        datamodule.val_dataloader(), infer, args.steps
    )
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def run_side(side: str, data: Path, threads: int, seed: int, args: argparse.Namespace) -> dict:
    command = [
        sys.executable, __file__, "--side", side, "--data", str(data), "--threads", str(threads),
        "--epochs", str(args.epochs), "--steps", str(args.steps), "--accelerator", args.accelerator,
        "--seed", str(seed),
    ]  # fmt: skip
    if args.limit:
        command += ["--limit", str(args.limit)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"{side} failed on {data}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> str:
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{np.median(values):.4g} ({min(values):.4g}-{max(values):.4g})"


def print_cell(title: str, runs: list[dict[str, dict]], peers: list[str]) -> None:
    """One table: pesweep, each peer, and pesweep's advantage over each (paired runs)."""
    print(f"\n{title}")
    header = ["pesweep", *peers, *(f"advantage over {peer}" for peer in peers)]
    print(f"  {'':38s} " + " ".join(f"{name:>26s}" for name in header))
    for rows, heading in ((PRIMARY, None), (SECONDARY, "secondary:")):
        if heading:
            print(f"  {heading}")
        for key, label, better in rows:
            ours = [run["pesweep"][key] for run in runs]
            cells = [spread(ours)]
            advantages = []
            for peer in peers:
                theirs = [run[peer][key] for run in runs]
                cells.append(spread(theirs))
                ratios = [
                    p / o if better == "lower" else o / p for o, p in zip(ours, theirs, strict=True)
                ]
                advantages.append(spread(ratios) + "x")
            print(f"  {label:38s} " + " ".join(f"{cell:>26s}" for cell in cells + advantages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="SeBn/B=20,Bn/B=20", help="under seb_clusters/")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="timed steps of the secondary rows")
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--limit", type=int, help="only the first N structures of each set")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="60 SeB20 structures, 1 epoch, 1 thread, 1 repeat, the documented peer only",
    )
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help="comma-separated: schnetpack (its documented recipe) and schnetpack-ftz (the same "
        "with torch.set_flush_denormal(True), to show what subnormal arithmetic costs it)",
    )
    parser.add_argument("--side", choices=["pesweep", *PEERS], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.side:
        torch.set_num_threads(int(args.threads))
        if args.side == "schnetpack-ftz":
            torch.set_flush_denormal(True)
        runner = run_pesweep if args.side == "pesweep" else run_schnetpack
        print(json.dumps(runner(args)))
        return
    if args.smoke:
        args.datasets, args.threads, args.repeats, args.epochs = "SeBn/B=20", "1", 1, 1
        args.steps, args.limit, args.peers = 3, 60, "schnetpack"
    peers = args.peers.split(",")
    if unknown := set(peers) - set(PEERS):
        sys.exit(f"--peers: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PEERS)}")
    load = os.getloadavg()
    print(
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores "
        f"({cpu_model()}); "
        f"torch {torch.__version__}, {args.accelerator}; {args.epochs} epochs, "
        f"{args.repeats} interleaved repeats per side"
        + (f"; first {args.limit} structures of each set" if args.limit else "")
        + (" (smoke run: a check that it works, not a measurement)" if args.smoke else "")
    )
    for name in args.datasets.split(","):
        path = SEB / f"{name}.npz"
        if not path.exists():
            sys.exit(f"{path} is absent: the shared SeB_n data must be beside this checkout")
        for threads in (int(t) for t in args.threads.split(",")):
            runs = [
                {side: run_side(side, path, threads, seed, args) for side in ("pesweep", *peers)}
                for seed in range(args.repeats)
            ]
            print_cell(
                f"{name}.npz, SchNet {HYPER}, batch {BATCH}, {threads} thread(s), "
                f"after {args.epochs} epoch(s):",
                runs,
                peers,
            )


if __name__ == "__main__":
    main()
