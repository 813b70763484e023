"""The transfer commands of ``pesweep``: ``finetune``, ``chain``, ``compare`` and ``export-aenet``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hpo.cli.parsers.transfer import DEFAULT_CHAIN_DIR, DEFAULT_FINETUNE_DIR
from hpo.runtime.outputs import OutputError, claim_output_dir, names_an_input
from hpo.tracking.model_uris import resolve_checkpoint
from hpo.tracking.stores import tracking_store
from hpo.workflows.chain import compare_transfer, run_chain, summarise_chain
from hpo.workflows.finetune import finetune
from hpo.workflows.promotion import check_model_name
from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.models.nn_ascii import export_nn_ascii
from lightning_modules.training.config import load_config, make_config
from lightning_modules.training.task import load_task


def _inside(source: Path, folder: Path) -> bool:
    """Whether ``source`` lies in ``folder``, or is one of the checkpoints it will hold (links)."""
    if source.resolve().is_relative_to(folder.resolve()):
        return True
    return any(names_an_input(folder / name, [source]) for name in ("best.ckpt", "last.ckpt"))


def run_finetune(args: argparse.Namespace) -> int:
    """``pesweep finetune``: fine-tune a model on new data, tracked (and promoted when asked)."""
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
        tracking_store(args.tracking_uri),
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
    """``pesweep chain``: train on the first data set, fine-tune on each next."""
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
        tracking_store(args.tracking_uri),
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
    """``pesweep compare``: scratch against transfer over seeds, paired t-tests."""
    comparison = compare_transfer(
        args.source,
        args.target,
        tracking_store(args.tracking_uri),
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
    """``pesweep export-aenet``: an ænet model as ænet's nn.ascii files."""
    checkpoint = resolve_checkpoint(args.checkpoint, tracking_store(args.tracking_uri))
    paths = export_nn_ascii(load_task(str(checkpoint)).model, args.out, rc_min=args.rc_min)
    for path in paths:
        print(f"wrote {path}")
    print(
        "make ænet binaries with ænet-PyTorch's tools: nnASCII2bin.x <element>.nn.ascii "
        "<element>.nn"
    )
    return 0
