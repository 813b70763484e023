"""The transfer commands of ``pesweep``: ``finetune``, ``chain``, ``compare`` and ``export-aenet``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpo.cli.arguments import (
    add_element_energies_argument,
    add_energy_unit_argument,
    add_tracking_uri_argument,
    non_negative_int,
    positive_float,
    positive_int,
    tracking_store,
)
from lightning_modules.conventions import DEFAULT_ENERGY_UNIT

DEFAULT_FINETUNE_DIR = "pesweep_runs/finetune"
DEFAULT_CHAIN_DIR = "pesweep_runs/chain"


def _inside(source: Path, folder: Path) -> bool:
    """Whether ``source`` lies in ``folder``, or is one of the checkpoints it will hold (links)."""
    from hpo.runtime.outputs import names_an_input

    if source.resolve().is_relative_to(folder.resolve()):
        return True
    return any(names_an_input(folder / name, [source]) for name in ("best.ckpt", "last.ckpt"))


def run_finetune(args: argparse.Namespace) -> int:
    from hpo.runtime.outputs import OutputError, claim_output_dir
    from hpo.workflows.finetune import finetune
    from hpo.workflows.promotion import check_model_name

    if args.promote_as:
        check_model_name(args.promote_as)
    output_dir = claim_output_dir(
        args.output_dir or DEFAULT_FINETUNE_DIR,
        args.output_dir is not None,
        args.overwrite,
        inputs=args.data,
    )
    if "://" not in args.source and _inside(Path(args.source), output_dir):
        raise OutputError(
            f"--from {args.source} lies in --output-dir {output_dir}, whose files the fine-tuning "
            f"replaces; choose another --output-dir"
        )
    if args.output_dir is None and str(output_dir) != DEFAULT_FINETUNE_DIR:
        print(f"{DEFAULT_FINETUNE_DIR} holds an earlier run; writing to {output_dir}")
    tuned = finetune(
        args.source,
        args.data,
        tracking_store(args),
        energy_unit=args.energy_unit or DEFAULT_ENERGY_UNIT,
        strategy=args.strategy,
        lr=args.lr,
        max_epochs=args.max_epochs,
        seed=args.seed,
        output_dir=str(output_dir),
        cutoff=args.cutoff,
        promote_as=args.promote_as,
        alias=args.alias,
        overrides={"element_energies": args.element_energies} if args.element_energies else None,
        track=not args.no_tracking,
    )
    print(f"fine-tuned {tuned.parent} ({args.strategy}; frozen: {', '.join(tuned.frozen) or '-'})")
    for name in ("test_energy_mae_eV", "test_energy_mae_eV_clean", "test_force_mae_eV_per_A"):
        if name in tuned.result.test_metrics:
            print(f"  {name}: {tuned.result.test_metrics[name]:.6g}")
    run = f"MLflow run {tuned.run_id}" if tuned.run_id else "no MLflow run (--no-tracking)"
    print(f"{run}; checkpoint {tuned.result.checkpoint_path}")
    if tuned.promotion:
        print(tuned.promotion.message)
    return 0


def run_chain_command(args: argparse.Namespace) -> int:
    from hpo.runtime.outputs import claim_output_dir
    from hpo.workflows.chain import run_chain, summarise_chain
    from hpo.workflows.promotion import check_model_name
    from lightning_modules.training.config import load_config, make_config

    check_model_name(args.model_name)
    runs_dir = claim_output_dir(
        args.runs_dir or DEFAULT_CHAIN_DIR,
        args.runs_dir is not None,
        args.overwrite,
        "--runs-dir",
        inputs=args.data,
    )

    overrides = {
        "energy_unit": args.energy_unit,
        "max_epochs": args.max_epochs,
        "seed": args.seed,
        "data": [args.data[0]],
        "progress_bar": False,
    }
    config = (
        load_config(args.config, overrides)
        if args.config
        else make_config({k: v for k, v in overrides.items() if v is not None})
    )
    stages = run_chain(
        list(args.data),
        config,
        tracking_store(args),
        args.model_name,
        source=args.source,
        strategy=args.strategy,
        finetune_lr=args.lr,
        compare_direct=not args.no_direct,
        runs_dir=str(runs_dir),
    )
    print(summarise_chain(stages))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from hpo.workflows.chain import compare_transfer

    comparison = compare_transfer(
        args.source,
        args.target,
        tracking_store(args),
        list(range(args.seeds)),
        args.max_epochs,
        args.energy_unit or DEFAULT_ENERGY_UNIT,
        args.strategy,
        args.lr,
    )
    print(comparison.table())
    print(f"MLflow run {comparison.run_id} (experiment 'compare')")
    return 0


def run_export_aenet(args: argparse.Namespace) -> int:
    from hpo.tracking.model_uris import resolve_checkpoint
    from lightning_modules.models.nn_ascii import export_nn_ascii
    from lightning_modules.training.task import load_task

    checkpoint = resolve_checkpoint(args.checkpoint, tracking_store(args))
    paths = export_nn_ascii(load_task(str(checkpoint)).model, args.out, rc_min=args.rc_min)
    for path in paths:
        print(f"wrote {path}")
    print(
        "make ænet binaries with ænet-PyTorch's tools: nnASCII2bin.x <element>.nn.ascii "
        "<element>.nn"
    )
    return 0


def add_transfer_commands(
    sub: Any, add_data_arguments: Callable[[argparse.ArgumentParser, bool], None]
) -> None:
    """Register finetune, chain, compare and export-aenet."""
    from lightning_modules.training.strategies import STRATEGIES

    tune = sub.add_parser("finetune", help="fine-tune a pretrained model on target data")
    tune.add_argument(
        "--from",
        dest="source",
        required=True,
        help="models:/NAME@ALIAS, runs:/ID/model or a .ckpt path",
    )
    add_data_arguments(tune, True)
    tune.add_argument(
        "--strategy",
        choices=list(STRATEGIES),
        default="full",
        help="what is trained; the rest is frozen",
    )
    tune.add_argument("--lr", type=positive_float, help="default: a tenth of the pretraining lr")
    tune.add_argument(
        "--max-epochs", type=positive_int, default=20, help="epochs of the fine-tuning"
    )
    tune.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the split and the training"
    )
    tune.add_argument("--cutoff", type=float, help="must equal the pretrained model's cutoff")
    add_element_energies_argument(tune)
    tune.add_argument(
        "--output-dir",
        help=f"where the checkpoint goes (refused when it holds "
        f"files, unless --overwrite; default {DEFAULT_FINETUNE_DIR}, or the next "
        f"free {DEFAULT_FINETUNE_DIR}-N)",
    )
    tune.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier run in --output-dir",
    )
    tune.add_argument("--promote-as", metavar="NAME", help="register the result under NAME")
    tune.add_argument(
        "--no-tracking",
        action="store_true",
        help="log no MLflow run (files only; not with --promote-as)",
    )
    tune.add_argument("--alias", default="finetuned", help="the alias of --promote-as")
    add_tracking_uri_argument(tune, "of the --from model and the fine-tuning run")
    tune.set_defaults(handler=run_finetune)

    chain = sub.add_parser(
        "chain",
        help="continuous transfer: train on the first data set, "
        "fine-tune on each next, register every stage",
    )
    add_data_arguments(chain, True)
    chain.add_argument("--config", help="YAML training config of the first stage")
    chain.add_argument("--from", dest="source", help="start from this model instead")
    chain.add_argument("--model-name", default="chain", help="registered model of the stages")
    chain.add_argument(
        "--strategy", choices=list(STRATEGIES), default="full", help="what each stage trains"
    )
    chain.add_argument("--lr", type=positive_float, help="fine-tuning lr (default: a tenth)")
    chain.add_argument(
        "--max-epochs", type=positive_int, help="epochs per stage (default: the config's, else 50)"
    )
    chain.add_argument(
        "--seed",
        type=non_negative_int,
        help="seed of splits and training (default: the config's, else 0)",
    )
    chain.add_argument(
        "--no-direct", action="store_true", help="skip direct training on each set (the comparison)"
    )
    chain.add_argument(
        "--runs-dir",
        help=f"where the stages go (refused when it holds files, "
        f"unless --overwrite; default {DEFAULT_CHAIN_DIR}, or the next free "
        f"{DEFAULT_CHAIN_DIR}-N)",
    )
    chain.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier chain in --runs-dir",
    )
    add_tracking_uri_argument(chain, "of the stages' runs and versions")
    chain.set_defaults(handler=run_chain_command)

    compare = sub.add_parser(
        "compare", help="scratch against transfer, same budget per seed, paired t-test"
    )
    compare.add_argument(
        "--target", nargs="+", required=True, metavar="PATH", help="the target data file(s)"
    )
    compare.add_argument(
        "--from",
        dest="source",
        required=True,
        help="the pretrained model: models:/NAME@ALIAS, runs:/ID/model or a .ckpt path",
    )
    add_energy_unit_argument(compare)
    compare.add_argument(
        "--seeds", type=positive_int, default=5, help="seeds (pairs of scratch and transfer)"
    )
    compare.add_argument(
        "--max-epochs", type=positive_int, default=20, help="epochs of every training"
    )
    compare.add_argument(
        "--strategy", choices=list(STRATEGIES), default="full", help="what the transfer trains"
    )
    compare.add_argument(
        "--lr", type=positive_float, help="fine-tuning lr (default: a tenth of the pretraining lr)"
    )
    add_tracking_uri_argument(compare, "of the --from model and the comparison run")
    compare.set_defaults(handler=run_compare)

    export = sub.add_parser(
        "export-aenet", help="write a trained ænet model as ænet-PyTorch's <element>.nn.ascii files"
    )
    export.add_argument(
        "checkpoint", help="checkpoint file or folder, models:/NAME@ALIAS or runs:/"
    )
    export.add_argument("--out", default=".", help="folder for the files")
    export.add_argument(
        "--rc-min",
        type=float,
        default=0.5,
        help="ænet's RMIN, Angstrom (sizes its neighbour lists; default 0.5)",
    )
    add_tracking_uri_argument(export, "holding the models:/ or runs:/ checkpoint")
    export.set_defaults(handler=run_export_aenet)
