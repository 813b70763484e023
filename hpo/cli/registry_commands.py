"""The model registry commands of ``pesweep``: ``promote`` and ``models``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hpo.cli.arguments import (
    add_storage_argument,
    add_tracking_uri_argument,
    existing_tracking_store,
    tracking_store,
)


def run_promote(args: argparse.Namespace) -> int:
    from hpo.runtime.errors import PromotionError
    from hpo.study.setup import connect_storage, stored_setup
    from hpo.tracking.stores import optuna_storage
    from hpo.workflows.promotion import check_model_name, promote_best_trial, rollback

    if args.model_name:
        check_model_name(args.model_name)
    md_spec = None
    if args.require_md:
        from hpo.workflows.md_gate import read_structure
        from lightning_modules.md import load_md_spec

        md_spec = load_md_spec(args.require_md)
        read_structure(md_spec.structure)  # a missing structure is refused before anything
    if args.rollback:
        if not args.model_name:
            raise PromotionError("--rollback needs --model-name (the registered model)")
        print(rollback(existing_tracking_store(args), args.model_name, args.alias).message)
        return 0
    if not args.study:
        raise PromotionError("give --study NAME (the study whose best trial to promote)")
    check_model_name(args.model_name or args.study)
    storage = optuna_storage(args.storage).require_existing(
        "study storage", "pass --storage with the URL the sweep used"
    )
    try:
        import optuna

        study = optuna.load_study(study_name=args.study, storage=connect_storage(storage))
    except KeyError as error:
        raise PromotionError(f"no study {args.study!r} in {storage}") from error
    setup = stored_setup(study)
    tracking = tracking_store(args, setup.tracking_uri if setup else None).require_existing(
        "MLflow tracking store", "pass --tracking-uri with the URI the sweep used"
    )
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
    from hpo.workflows.promotion import check_model_name, describe_models, lineage

    if args.name:
        check_model_name(args.name)
    tracking = existing_tracking_store(args)
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


def add_registry_commands(sub: Any) -> None:
    """Register promote and models."""

    promote = sub.add_parser(
        "promote",
        help="register a study's best checkpoint in the MLflow "
        "model registry and point an alias at it",
    )
    promote.add_argument("--study", help="study name (not needed with --rollback)")
    add_storage_argument(promote)
    promote.add_argument("--model-name", help="registered model name (default: the study name)")
    promote.add_argument("--alias", default="pretrained", help="the alias the version gets")
    promote.add_argument(
        "--metric",
        default="test_energy_mae_eV",
        help="compared with --require-better (lower is better)",
    )
    promote.add_argument(
        "--require-better",
        action="store_true",
        help="move the alias only if the candidate beats its holder",
    )
    promote.add_argument("--force", action="store_true", help="skip the comparison")
    promote.add_argument(
        "--require-md",
        metavar="SPEC",
        help="YAML of an MD stability check (structure, temperature, time_ps, thresholds; see "
        "pesweep md-check): the candidate runs it first, the result is stored as tags of the "
        "version, and a FAIL leaves the alias where it was",
    )
    promote.add_argument(
        "--rollback", action="store_true", help="give the alias back to its previous holder"
    )
    add_tracking_uri_argument(promote, "whose registry gets the version", study=True)
    promote.set_defaults(handler=run_promote)

    models = sub.add_parser("models", help="list registered models, or show one")
    models.add_argument(
        "action",
        choices=["list", "show"],
        help="list: one line per version (aliases, parent, test metrics); show: also the "
        "whole lineage (each version back to the first, then the source it was trained from) "
        "and every tag",
    )
    models.add_argument("name", nargs="?", help="one registered model (default: all)")
    models.add_argument("--json", action="store_true", help="print the versions as JSON")
    add_tracking_uri_argument(models, "whose registry is read")
    models.set_defaults(handler=run_models)
