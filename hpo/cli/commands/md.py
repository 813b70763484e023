"""``pesweep md-check``: NVT molecular dynamics with a trained model, judged PASS or FAIL."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from tqdm import tqdm

from hpo.cli.parsers.md import DEFAULT_MD_DIR
from hpo.runtime.outputs import claim_output_dir
from hpo.tracking.stores import tracking_store
from hpo.workflows.md_gate import run_md_check
from lightning_modules.md import MDSpec, MDSpecError, load_md_spec

logger = logging.getLogger(__name__)


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
    "spot_check",
)


def spec_from_args(args: argparse.Namespace) -> Any:
    """The check's MDSpec: ``--spec`` (if given), then each flag given on top of it."""
    spec = load_md_spec(args.spec) if args.spec else MDSpec()
    spec = spec.replace(**{name: getattr(args, name) for name in SPEC_FLAGS})
    if not spec.structure:
        raise MDSpecError("give --structure FILE (or a --spec with 'structure')")
    return spec


class _ProgressBar:
    """A tqdm bar over simulated ps with steps per second (silent when stderr is no terminal)."""

    def __init__(self, total_ps: float) -> None:
        self.bar = tqdm(total=total_ps, unit="ps", desc="md", disable=None, file=sys.stderr)

    def __call__(self, simulated_ps: float, steps_per_second: float) -> None:
        self.bar.n = round(simulated_ps, 4)
        self.bar.set_postfix_str(f"{steps_per_second:.0f} steps/s", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def run_md_check_command(args: argparse.Namespace) -> int:
    """Exit 0 when the model passes, 1 when it fails (2 for a user error, as every command)."""
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
