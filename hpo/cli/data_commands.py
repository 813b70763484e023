"""Handlers of the ``pesweep`` commands on data and single trainings.

``train``, ``audit``, ``subset`` and ``references`` (isolated-atom energies).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_modules.conventions import CALCULATORS, DEFAULT_ENERGY_UNIT

if TYPE_CHECKING:
    from hpo.tracking.stores import Store

USE = (
    "Use them when the training data hold one composition (every structure SeB20, or one "
    "Cu7Au6 cluster with water): such data cannot determine each element's reference, and "
    "the model's energies of other compositions are arbitrary without them. Give the file "
    "to train, sweep or finetune as --element-energies FILE (or element_energies: FILE in "
    "a config). Compute them with the calculator (and settings) that labelled the data."
)


def run_train(args: argparse.Namespace) -> int:
    """``pesweep train``: one training run, test metrics printed, checkpoint written."""
    import dataclasses

    from hpo.runtime.outputs import claim_output_dir
    from lightning_modules.training.config import (
        ConfigError,
        TrainConfig,
        load_config,
        make_config,
    )
    from lightning_modules.training.metrics import describe_metric
    from lightning_modules.training.run import build_datamodule, check_accelerator, train

    overrides: dict[str, Any] = {
        "data": args.data,
        "energy_unit": args.energy_unit,
        "model": args.model,
        "max_epochs": args.max_epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "output_dir": args.output_dir,
        "drop_flagged": args.drop_flagged,
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
        from lightning_modules.training.pretrained import TransferError, load_pretrained

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
    from hpo.tracking.stores import check_tracking_store, tracking_store

    tracking = tracking_store(flag)
    check_tracking_store(tracking)
    return tracking


def _tracked_train(config: Any, tracking: Store, datamodule: Any) -> tuple[Any, str]:
    """One training as an MLflow run in the experiment ``train``."""
    from hpo import __version__
    from hpo.tracking.runs import Tracker
    from hpo.tracking.training_runs import tracked_training

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
    from hpo.runtime.outputs import check_output_file
    from lightning_modules.data import load_data
    from lightning_modules.data.audit import audit_energies
    from lightning_modules.data.references import undetermined_message

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
    from hpo.runtime.outputs import OutputError, check_output_file
    from lightning_modules.data import DataError, load_data
    from lightning_modules.data.subsets import (
        count_by_element,
        random_subset,
        select_by_elements,
        write_extxyz,
    )

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
    from hpo.runtime.outputs import check_output_file
    from lightning_modules.data.isolated_atoms import (
        isolated_atom_energies,
        parse_elements,
        write_references,
    )

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


def add_data_commands(
    sub: Any, add_data_arguments: Callable[[argparse.ArgumentParser, bool], None]
) -> None:
    """Register train, audit, subset and references."""
    from hpo.cli.arguments import (
        add_element_energies_argument,
        add_energy_unit_argument,
        non_negative_int,
        positive_float,
        positive_int,
    )

    train = sub.add_parser("train", help="train one model from a YAML config (and flags)")
    train.add_argument(
        "--config", help="YAML file with TrainConfig keys (see docs/how-to/training.md)"
    )
    add_data_arguments(train, False)
    train.add_argument("--model", help="model name: schnet or aenet (default schnet)")
    train.add_argument(
        "--max-epochs", type=positive_int, help="epochs (default: the config's, else 50)"
    )
    train.add_argument(
        "--batch-size",
        type=positive_int,
        help="structures per batch (default: the config's, else 32)",
    )
    train.add_argument(
        "--lr", type=positive_float, help="learning rate (default: the config's, else 5e-4)"
    )
    train.add_argument(
        "--seed",
        type=non_negative_int,
        help="seed of the split and the training (default: the config's, else 0)",
    )
    train.add_argument(
        "--output-dir",
        help="where best.ckpt, split.npz and config.yaml go "
        "(refused when it holds files, unless --overwrite; default "
        "pesweep_runs/train, or the next free pesweep_runs/train-N)",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier run in --output-dir",
    )
    train.add_argument(
        "--drop-flagged",
        action="store_true",
        default=None,
        help="exclude the structures beyond the audit's physical bound (the audit-clean "
        "subset is what stays)",
    )
    train.add_argument(
        "--drop-outliers",
        action="store_true",
        default=None,
        help="also exclude the audit's robust outliers within the bound (kept by default, "
        "their errors reported apart)",
    )
    add_element_energies_argument(train)
    train.add_argument("--accelerator", help="auto (default), cpu or gpu")
    train.add_argument("--no-progress-bar", action="store_true", help="no bar over the epochs")
    train.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI of the training's run (default: $MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db)",
    )
    train.add_argument("--no-tracking", action="store_true", help="log no MLflow run (files only)")
    train.set_defaults(handler=run_train)

    audit = sub.add_parser("audit", help="check a data set: validation and implausible labels")
    audit.add_argument("data", nargs="+", metavar="DATA")
    add_energy_unit_argument(audit, default=DEFAULT_ENERGY_UNIT)
    audit.add_argument(
        "--bound",
        type=float,
        default=5.0,
        help="flag structures more than this many eV/atom above the lowest of their composition",
    )
    audit.add_argument(
        "--mad-threshold",
        type=float,
        default=3.5,
        help="modified z-score above which a structure is a robust outlier",
    )
    audit.add_argument("--json", metavar="FILE", help="also write the audit as JSON")
    audit.add_argument("--force", action="store_true", help="replace an existing --json file")
    audit.set_defaults(handler=run_audit)

    subset = sub.add_parser("subset", help="write a pretraining subset (by elements or random)")
    add_data_arguments(subset, True)
    subset.add_argument("--elements", help="comma-separated symbols, e.g. Cu,Au")
    subset.add_argument(
        "--mode",
        choices=["any", "all", "only"],
        default="any",
        help="--elements: structures with any of them, all of them, or only them",
    )
    subset.add_argument(
        "--random", type=positive_int, metavar="N", help="N structures drawn at random"
    )
    subset.add_argument(
        "--stratify", choices=["energy"], help="--random: draw evenly over the energy range"
    )
    subset.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the --random draw"
    )
    subset.add_argument(
        "--out",
        required=True,
        help="extxyz file to write (never an input; an existing file only with --force)",
    )
    subset.add_argument("--force", action="store_true", help="replace an existing --out file")
    subset.set_defaults(handler=run_subset)

    references = sub.add_parser(
        "references",
        help="isolated-atom reference energies (EMT or GFN1-xTB) for element_energies",
        description="Compute each element's free-atom energy with a real calculator and "
        "write a file that element_energies accepts. " + USE,
    )
    references.add_argument(
        "--calculator", required=True, choices=CALCULATORS, help="ASE's EMT or GFN1-xTB (tblite)"
    )
    references.add_argument("--elements", required=True, help="comma-separated, e.g. Cu,Au,O,H")
    references.add_argument("--out", required=True, metavar="FILE", help="YAML file to write")
    references.add_argument("--force", action="store_true", help="replace an existing --out file")
    references.set_defaults(handler=run_references)
