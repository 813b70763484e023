"""The arguments of the model registry commands, ``promote`` and ``models``."""

from __future__ import annotations

from typing import Any

from hpo.cli.arguments import (
    add_storage_argument,
    add_tracking_uri_argument,
)


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
    promote.set_defaults(handler="registry:run_promote")

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
    models.set_defaults(handler="registry:run_models")
