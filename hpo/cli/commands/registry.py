"""The model registry commands of ``pesweep``: ``promote`` and ``models``."""

from __future__ import annotations

import argparse
import json

import optuna

from hpo.runtime.errors import PromotionError
from hpo.study.setup import connect_storage, stored_setup
from hpo.tracking.model_uris import model_store
from hpo.tracking.stores import optuna_storage, tracking_store
from hpo.workflows.md_gate import read_structure
from hpo.workflows.promotion import (
    check_model_name,
    describe_models,
    lineage,
    promote_best_trial,
    rollback,
)
from lightning_modules.md import load_md_spec


def run_promote(args: argparse.Namespace) -> int:
    """``pesweep promote``: the study's best trial as a registered version (or a rollback)."""
    if args.model_name:
        check_model_name(args.model_name)
    md_spec = None
    if args.require_md:
        md_spec = load_md_spec(args.require_md)
        read_structure(md_spec.structure)  # a missing structure is refused before anything
    if args.rollback:
        if not args.model_name:
            raise PromotionError("--rollback needs --model-name (the registered model)")
        print(rollback(model_store(args.tracking_uri), args.model_name, args.alias).message)
        return 0
    if not args.study:
        raise PromotionError("give --study NAME (the study whose best trial to promote)")
    check_model_name(args.model_name or args.study)
    storage = optuna_storage(args.storage).require_existing(
        "study storage", "pass --storage with the URL the sweep used"
    )
    try:
        study = optuna.load_study(study_name=args.study, storage=connect_storage(storage))
    except KeyError as error:
        raise PromotionError(f"no study {args.study!r} in {storage}") from error
    setup = stored_setup(study)
    tracking = tracking_store(
        args.tracking_uri, setup.tracking_uri if setup else None
    ).require_existing("MLflow tracking store", "pass --tracking-uri with the URI the sweep used")
    promotion = promote_best_trial(
        study,
        tracking,
        args.model_name or args.study,
        args.alias,
        args.metric,
        args.require_better,
        args.force,
        require_md=md_spec,
    )
    print(promotion.message)
    print(
        f"load it with: pesweep.load_potential('models:/{promotion.name}@"
        f"{promotion.alias}', tracking_uri='{tracking}')"
    )
    return 0


SUMMARY_METRICS = (
    "test_energy_mae_eV",
    "test_energy_rmse_eV",
    "best_val_energy_mae_eV",
    "test_force_rmse_eV_per_A",
)


def run_models(args: argparse.Namespace) -> int:
    """``pesweep models list|show [NAME] [--json]``: versions, aliases, metrics; show: all tags."""
    if args.name:
        check_model_name(args.name)
    tracking = model_store(args.tracking_uri)
    rows = describe_models(tracking, args.name)
    if args.action == "show":
        every = {f"{r['name']}/{r['version']}": r for r in describe_models(tracking)}
        for row in rows:
            row["lineage"] = lineage(row, every)
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    if not rows:
        print(f"no registered models at {tracking}")
    for row in rows:
        aliases = ",".join("@" + a for a in row["aliases"]) or "-"
        metrics = ", ".join(
            f"{k} {v:.4g}" for k, v in sorted(row["metrics"].items()) if k in SUMMARY_METRICS
        )
        parent = f" parent {row['parent']}" if row["parent"] else ""
        print(f"{row['name']} v{row['version']} {aliases}{parent}  {metrics}")
        if args.action == "show":
            print("  lineage: " + " <- ".join(row["lineage"]))
            references = row["tags"].get("element_references")
            if references:
                print("  element references:")
                for line in references.split("; "):
                    print(f"    {line}")
            print("  tags:")
            for key, value in sorted(row["tags"].items()):
                print(f"    {key}: {value}")
    return 0
