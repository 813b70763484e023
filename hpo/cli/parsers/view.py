"""The arguments of ``report``, ``ui`` and ``spaces``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.cli.arguments import add_storage_argument
from lightning_modules.conventions import DEFAULT_TRACKING_URI

if TYPE_CHECKING:
    pass


def add_view_commands(sub: Any) -> None:
    """Register report, ui and spaces."""
    report = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a study "
        "(and log it to the study's MLflow parent run)",
    )
    report.add_argument("--study", required=True, help="the study to report")
    add_storage_argument(report)
    report.add_argument("--out", default="report.html", help="the HTML file to write")
    report.add_argument("--force", action="store_true", help="replace an existing --out file")
    report.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the study's own)",
    )
    report.set_defaults(handler="view:run_report")

    ui = sub.add_parser("ui", help="start optuna-dashboard and the MLflow UI (Ctrl-C stops both)")
    add_storage_argument(ui, "--storage", "--study-storage", dest="study_storage")
    ui.add_argument(
        "--tracking-uri",
        help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})",
    )
    ui.add_argument(
        "--host", default="127.0.0.1", help="address both servers listen on (loopback only)"
    )
    ui.add_argument("--port", type=int, default=8080, help="optuna-dashboard port")
    ui.add_argument("--mlflow-port", type=int, default=5000, help="MLflow UI port")
    ui.add_argument("--artifact-dir", help="trial figures (default: recorded by the sweep)")
    ui.set_defaults(handler="view:run_ui_command")

    spaces = sub.add_parser("spaces", help="list, show or check search spaces")
    spaces.add_argument(
        "action",
        choices=["list", "show", "check"],
        help="list: the shipped spaces (model, number of parameters, file); show: print a "
        "space's YAML; "
        "check: validate a space and print the size of its full grid",
    )
    spaces.add_argument("space", nargs="?", help="a shipped space name or a YAML file")
    spaces.set_defaults(handler="view:run_spaces")
