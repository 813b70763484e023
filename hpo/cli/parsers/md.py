"""The arguments of ``pesweep md-check``."""

from __future__ import annotations

from typing import Any

from hpo.cli.arguments import non_negative_int, positive_float
from lightning_modules.conventions import CALCULATORS, DEFAULT_TRACKING_URI
from lightning_modules.md.spec import THERMOSTATS, MDSpec

DEFAULT_MD_DIR = "pesweep_runs/md-check"


def add_md_commands(sub: Any) -> None:
    """Register ``md-check``."""
    defaults = MDSpec()
    check = sub.add_parser(
        "md-check",
        help="run NVT MD with a trained model and report PASS or FAIL with the first failure",
        description="NVT molecular dynamics (ASE, Bussi thermostat) with a trained model as the "
        "calculator, then an NVE segment. FAIL at the first close contact (a pair closer than "
        "a fraction of its covalent-radius sum), broken X-H bond, atom leaving the cluster, "
        "temperature above a multiple of the target, energy drift in NVE, or NaN; with "
        "--spot-check, also at the first frame whose forces the reference calculator "
        "disagrees with. Exit status 0 for PASS, 1 for FAIL, 2 for a bad input.",
    )
    check.add_argument(
        "--model",
        required=True,
        help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN/model or a .ckpt file",
    )
    check.add_argument("--structure", help="starting structure (any file ASE reads)")
    check.add_argument(
        "--spec", help="YAML of the check (structure, temperature, thresholds...); flags win"
    )
    check.add_argument(
        "--temperature", type=positive_float, help=f"K (default {defaults.temperature:g})"
    )
    check.add_argument(
        "--timestep", type=positive_float, help=f"fs (default {defaults.timestep:g})"
    )
    check.add_argument(
        "--time-ps", type=positive_float, help=f"NVT time in ps (default {defaults.time_ps:g})"
    )
    check.add_argument(
        "--nve-ps",
        type=float,
        help=f"NVE segment after NVT, ps; 0 for none (default {defaults.nve_ps:g})",
    )
    check.add_argument(
        "--thermostat",
        choices=THERMOSTATS,
        help=f"the NVT thermostat (default: the spec's, else {defaults.thermostat})",
    )
    check.add_argument(
        "--seed", type=non_negative_int, help="velocities and thermostat (default 0)"
    )
    check.add_argument(
        "--contact-fraction",
        type=positive_float,
        help="a pair closer than this x its covalent-radius sum fails "
        f"(default {defaults.contact_fraction:g}: Au-O below 1.52 A)",
    )
    check.add_argument(
        "--spot-check",
        choices=CALCULATORS,
        help="label frames spread over the trajectory with this calculator (the one that "
        "labelled the training data; default: none) and fail where the model's forces differ "
        f"by more than the spec's spot_check_max_force_rmse ({defaults.spot_check_max_force_rmse:g}"
        f" eV/A RMSE) on any of its {defaults.spot_check_frames} frames",
    )
    check.add_argument(
        "--reference", help="a reference trajectory: the distance of the pair distributions to it"
    )
    check.add_argument(
        "--output-dir", help=f"trajectory and report (default: a new folder under {DEFAULT_MD_DIR})"
    )
    check.add_argument("--overwrite", action="store_true", help="reuse a --output-dir with files")
    check.add_argument(
        "--tracking-uri",
        help=f"MLflow store of the model and of the check's run (default: "
        f"$MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})",
    )
    check.add_argument("--experiment", default="pesweep-md-check", help="MLflow experiment")
    check.add_argument("--no-mlflow", action="store_true", help="files only, no MLflow run")
    check.set_defaults(handler="md:run_md_check_command")
