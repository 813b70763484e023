"""``pesweep md-check``: NVT molecular dynamics with a trained model, judged PASS or FAIL."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from lightning_modules.conventions import DEFAULT_TRACKING_URI

logger = logging.getLogger(__name__)

DEFAULT_MD_DIR = "pesweep_runs/md-check"

# MDSpec fields that are also flags of md-check (same names; the spec's defaults are theirs)
SPEC_FLAGS = (
    "structure",
    "temperature",
    "timestep",
    "time_ps",
    "nve_ps",
    "thermostat",
    "seed",
    "contact_fraction",
)


def spec_from_args(args: argparse.Namespace) -> Any:
    """The check's MDSpec: ``--spec`` (if given), then each flag given on top of it."""
    from lightning_modules.md import MDSpec, MDSpecError, load_md_spec

    spec = load_md_spec(args.spec) if args.spec else MDSpec()
    spec = spec.replace(**{name: getattr(args, name) for name in SPEC_FLAGS})
    if not spec.structure:
        raise MDSpecError("give --structure FILE (or a --spec with 'structure')")
    return spec


class _ProgressBar:
    """A tqdm bar over simulated ps with steps per second (silent when stderr is no terminal)."""

    def __init__(self, total_ps: float) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total_ps, unit="ps", desc="md", disable=None, file=sys.stderr)

    def __call__(self, simulated_ps: float, steps_per_second: float) -> None:
        self.bar.n = round(simulated_ps, 4)
        self.bar.set_postfix_str(f"{steps_per_second:.0f} steps/s", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def run_md_check_command(args: argparse.Namespace) -> int:
    """Exit 0 when the model passes, 1 when it fails (2 for a user error, as every command)."""
    from hpo.runtime.outputs import claim_output_dir
    from hpo.tracking.stores import tracking_store
    from hpo.workflows.md_gate import run_md_check

    spec = spec_from_args(args)
    tracking = tracking_store(args.tracking_uri)
    output = claim_output_dir(
        args.output_dir or DEFAULT_MD_DIR, args.output_dir is not None, args.overwrite
    )
    bar = _ProgressBar(spec.total_ps)
    try:
        result = run_md_check(
            args.model,
            spec,
            output,
            tracking_uri=tracking,
            experiment=args.experiment,
            reference=args.reference,
            log_to_mlflow=not args.no_mlflow,
            on_progress=bar,
        )
    finally:
        bar.close()
    print(f"{args.model}: {result.summary()}")
    print(f"trajectory, report and pair distributions: {output}")
    if result.run_id:
        print(f"MLflow run {result.run_id} in experiment {args.experiment!r} at {tracking}")
    return 0 if result.report.passed else 1


def add_md_commands(sub: Any) -> None:
    """Register ``md-check``."""
    from hpo.cli.arguments import non_negative_int, positive_float
    from lightning_modules.md.spec import THERMOSTATS, MDSpec

    defaults = MDSpec()
    check = sub.add_parser(
        "md-check",
        help="run NVT MD with a trained model and report PASS or FAIL with the first failure",
        description="NVT molecular dynamics (ASE, Bussi thermostat) with a trained model as the "
        "calculator, then an NVE segment. FAIL at the first close contact (a pair closer than "
        "a fraction of its covalent-radius sum), broken X-H bond, atom leaving the cluster, "
        "temperature above a multiple of the target, energy drift in NVE, or NaN. Exit status "
        "0 for PASS, 1 for FAIL, 2 for a bad input.",
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
    check.set_defaults(handler=run_md_check_command)
