"""Handlers of the ``pesweep`` subcommands (argument parsing stays in :mod:`hpo.cli`)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("pesweep")


def run_train(args: argparse.Namespace) -> int:
    """``pesweep train``: one training run, test metrics printed, checkpoint written."""
    from lightning_modules.metrics import describe_metric
    from lightning_modules.training import load_config, make_config, train

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
        "accelerator": args.accelerator,
        "progress_bar": False if args.no_progress_bar else None,
    }
    if args.config:
        config = load_config(args.config, overrides)
    else:
        config = make_config({k: v for k, v in overrides.items() if v is not None})
    result = train(config)
    print(f"trained {config.model} for {result.epochs} epochs in {result.seconds:.1f} s "
          f"({result.n_parameters} parameters)")
    print("test metrics of the best validation epoch:")
    for name in sorted(k for k in result.test_metrics if k != "test_loss"):
        print(f"  {describe_metric(name):55s} {result.test_metrics[name]:.6g}")
    print(f"checkpoint: {result.checkpoint_path}")
    print(f"split indices: {Path(result.output_dir) / 'split.npz'}")
    return 0


def run_audit(args: argparse.Namespace) -> int:
    """``pesweep audit``: validate the data and flag implausible energy labels."""
    from lightning_modules.audit import audit_energies
    from lightning_modules.data import load_data

    data = load_data(args.data, args.energy_unit)
    report = audit_energies(data, args.bound, args.mad_threshold)
    print(f"{len(data)} structures, elements {data.elements()}, "
          f"{'with' if data.has_forces.any() else 'without'} forces")
    print(report.format())
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=1))
        print(f"written: {args.json}")
    return 0


def add_sweep_commands(
    sub: Any, add_data_arguments: Callable[[argparse.ArgumentParser, bool], None]
) -> None:
    """Register the sweep-related subcommands (sweep, demo, spaces)."""
