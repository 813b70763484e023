"""What ``train``, ``audit``, ``subset``, ``references`` (isolated-atom energies) and ``label`` do."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from hpo import __version__
from hpo.runtime.outputs import OutputError, check_output_file, claim_output_dir
from hpo.tracking.runs import Tracker
from hpo.tracking.stores import Store, check_tracking_store, tracking_store
from hpo.tracking.training_runs import tracked_training
from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.data import DataError, load_data
from lightning_modules.data.audit import audit_energies
from lightning_modules.data.isolated_atoms import (
    isolated_atom_energies,
    parse_elements,
    write_references,
)
from lightning_modules.data.readers import read_frames
from lightning_modules.data.references import undetermined_message
from lightning_modules.data.subsets import (
    count_by_element,
    random_subset,
    select_by_elements,
    write_extxyz,
)
from lightning_modules.training.config import (
    ConfigError,
    TrainConfig,
    load_config,
    make_config,
)
from lightning_modules.training.metrics import describe_metric
from lightning_modules.training.pretrained import TransferError, load_pretrained
from lightning_modules.training.run import build_datamodule, check_accelerator, train


def run_train(args: argparse.Namespace) -> int:
    """``pesweep train``: one training run, test metrics printed, checkpoint written."""
    overrides: dict[str, Any] = {
        "data": args.data,
        "energy_unit": args.energy_unit,
        "model": args.model,
        "max_epochs": args.max_epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "loss": args.loss,
        "seed": args.seed,
        "output_dir": args.output_dir,
        "drop_flagged": args.drop_flagged,
        "keep_flagged_in_test": args.keep_flagged_in_test,
        "drop_outliers": args.drop_outliers,
        "element_energies": args.element_energies,
        "accelerator": args.accelerator,
        "progress_bar": False if args.no_progress_bar else None,
    }
    if args.config:
        config = load_config(args.config, overrides)
    else:
        config = make_config({k: v for k, v in overrides.items() if v is not None})
    check_accelerator(config.accelerator)  # before the tracking store is made
    datamodule = build_datamodule(config)
    datamodule.setup()  # every data error before a store or folder is made
    if config.init_from:  # a file that is no checkpoint, before a store or folder is made
        try:
            load_pretrained(config.init_from)
        except TransferError as error:
            raise ConfigError(f"init_from: {error}") from error
    tracking = None if args.no_tracking else _checked_tracking(args.tracking_uri)
    default_dir = config.output_dir == TrainConfig.output_dir and not args.output_dir
    output_dir = claim_output_dir(
        config.output_dir, not default_dir, args.overwrite, inputs=config.data
    )
    if str(output_dir) != config.output_dir:
        print(f"{config.output_dir} holds an earlier run; writing to {output_dir}")
        config = dataclasses.replace(config, output_dir=str(output_dir))
    if tracking is None:
        result = train(config, datamodule=datamodule)
    else:
        result, run_id = _tracked_train(config, tracking, datamodule)
    print(
        f"trained {config.model} for {result.epochs} epochs in {result.seconds:.1f} s "
        f"({result.n_parameters} parameters)"
    )
    print("test metrics of the best validation epoch:")
    for name in sorted(k for k in result.test_metrics if k != "test_loss"):
        print(f"  {describe_metric(name):55s} {result.test_metrics[name]:.6g}")
    print(f"checkpoint: {result.checkpoint_path}")
    print(f"split indices: {Path(result.output_dir) / 'split.npz'}")
    if tracking is not None:
        print(f"MLflow run {run_id} (experiment 'train') in {tracking}")
    return 0


def _checked_tracking(flag: str | None) -> Store:
    """The training's tracking store; a dead server is one line before anything is made."""
    tracking = tracking_store(flag)
    check_tracking_store(tracking)
    return tracking


def _tracked_train(config: Any, tracking: Store, datamodule: Any) -> tuple[Any, str]:
    """One training as an MLflow run in the experiment ``train``."""
    params = {k: v for k, v in config.to_dict().items() if k not in ("output_dir", "progress_bar")}
    result, run_id = tracked_training(
        config,
        Tracker(tracking, "train"),
        f"train-{Path(config.data[0]).stem}" if config.data else "train",
        tags={
            "pesweep.kind": "train",
            "pesweep.version": __version__,
            "pesweep.energy_unit": config.energy_unit,
        },
        params=params,
        datamodule=datamodule,
    )
    return result, run_id


def run_audit(args: argparse.Namespace) -> int:
    """``pesweep audit``: validate the data and flag implausible energy labels."""
    if args.json:
        check_output_file(args.json, args.data, args.force)
    data = load_data(args.data, args.energy_unit)
    report = audit_energies(data, args.bound, args.mad_threshold)
    print(
        f"{len(data)} structures, elements {data.elements()}, "
        f"{'with' if data.has_forces.any() else 'without'} forces"
    )
    print(report.format())
    undetermined = undetermined_message(data, what="the data")
    if undetermined:
        print(f"warning: {undetermined}")
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=1))
        print(f"written: {args.json}")
    return 0


def run_subset(args: argparse.Namespace) -> int:
    """``pesweep subset``: a pretraining subset (by elements or at random) as extended XYZ."""
    if not args.elements and not args.random:
        raise OutputError("give --elements or --random N (the subset to write)")
    if Path(args.out).suffix.lower() not in (".xyz", ".extxyz"):
        raise OutputError(
            f"--out {args.out}: subset writes extended XYZ; name the file .xyz or .extxyz"
        )
    check_output_file(args.out, args.data, args.force)
    data = load_data(args.data, args.energy_unit or DEFAULT_ENERGY_UNIT)
    if args.elements:
        chosen = select_by_elements(data, args.elements.split(","), args.mode)
        if len(chosen) == 0:
            counts = ", ".join(f"{symbol} {n}" for symbol, n in count_by_element(data).items())
            raise DataError(
                f"no structure matches --elements {args.elements} --mode "
                f"{args.mode}; structures per element: {counts}; nothing written"
            )
    else:
        chosen = random_subset(data, args.random, args.seed, args.stratify == "energy")
    path = write_extxyz(data.subset(chosen), args.out)
    print(f"{len(chosen)} of {len(data)} structures written to {path} (eV, eV/A)")
    return 0


def run_references(args: argparse.Namespace) -> int:
    """``pesweep references``: isolated-atom energies with a real calculator, as a file."""
    elements = parse_elements(args.elements)
    check_output_file(args.out, (), args.force)
    energies = isolated_atom_energies(elements, args.calculator)  # checks the calculator first
    for atom in energies:
        spin = (
            f" ({atom.unpaired_electrons} unpaired electrons)"
            if args.calculator == "gfn1-xtb"
            else ""
        )
        print(f"{atom.element:>3s} {atom.energy:16.6f} eV{spin}")
    write_references(args.out, energies, args.calculator)
    print(f"written: {args.out} (give it as --element-energies {args.out})")
    return 0


def run_label(args: argparse.Namespace) -> int:
    """``pesweep label``: frames spread over a trajectory, labelled by a real calculator."""
    import ase.io

    from lightning_modules.data.labelling import relabel_spread

    if Path(args.out).suffix.lower() not in (".xyz", ".extxyz"):
        raise OutputError(f"--out {args.out}: label writes extended XYZ; name the file .extxyz")
    check_output_file(args.out, [args.trajectory], args.force)
    trajectory = read_frames(
        args.trajectory, "--trajectory", hint="give an md-check trajectory.extxyz (or traj, xyz)"
    )
    result = relabel_spread(trajectory, args.frames, args.calculator)  # checks the calculator
    if not result.frames:
        raise DataError(f"{args.calculator} converged on none of the frames; nothing written")
    ase.io.write(args.out, result.frames, format="extxyz")
    unconverged = f" ({len(result.unconverged)} did not converge)" if result.unconverged else ""
    print(
        f"{len(result.frames)} frames of {len(trajectory)} labelled with {args.calculator}"
        f"{unconverged}: written to {args.out} (eV, eV/A); add it to --data of finetune or sweep"
    )
    if result.own_force_rmse:
        rmse = np.array(result.own_force_rmse)
        print(
            f"the frames' own forces against {args.calculator}'s: RMSE median "
            f"{np.median(rmse):.3f} eV/A, max {rmse.max():.3f}"
        )
    return 0
