"""``pesweep schedule slurm|run|cron|worker SPEC``: the command line of scheduled sweeps."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from hpo.cli.commands.sweep import print_summary
from hpo.schedule.cron import crontab_line
from hpo.schedule.lock import LockHeld, study_lock
from hpo.schedule.slurm import submit, write_job_script
from hpo.schedule.spec import load_spec
from hpo.tracking.stores import STORAGE_ENV, mask_url

logger = logging.getLogger("pesweep")

# hpo.schedule.runner imports torch, Lightning and MLflow: each handler imports it where it
# needs it, so that a run that finds its study's lock held answers at once


def run_schedule(args: argparse.Namespace) -> int:
    """``pesweep schedule ACTION SPEC``: the spec is read (and checked) first."""
    spec = load_spec(args.spec)
    handlers = {"slurm": _slurm, "run": _run, "cron": _cron, "worker": _worker}
    return handlers[args.action](spec, args)


def _slurm(spec: Any, args: argparse.Namespace) -> int:
    """Write the Slurm array job of the spec (and submit it with ``--submit``)."""
    from hpo.schedule.runner import sweep_options

    sweep_options(
        spec, None, float(spec.slurm.worker_timeout)
    )  # a bad spec fails here, not in the job
    script = write_job_script(spec, Path(args.out) if args.out else None, args.overwrite)
    print(f"job script: {script} ({spec.slurm.array} array tasks, one worker each)")
    if not args.submit:
        print(f"submit it with: sbatch {script}   (or rerun with --submit)")
        return 0
    job = submit(script)
    print(f"submitted job {job}")
    print(f"follow it: squeue -j {job} ; logs in {Path(spec.runs_dir) / 'slurm-logs'}")
    print(f"the study: pesweep report --study {spec.study} --storage <its storage>")
    return 0


def _run(spec: Any, args: argparse.Namespace) -> int:
    """One scheduled run, unless another holds the study's lock."""
    try:
        with study_lock(spec):  # before torch, Lightning and MLflow are imported
            from hpo.schedule.runner import run_scheduled

            outcome, promotion = run_scheduled(spec)
    except LockHeld as held:
        print(f"pesweep: {held}")
        return 0
    print_summary(outcome, mask_url(spec.storage))
    if promotion is not None:
        print(promotion)
    return 0


def _cron(spec: Any, args: argparse.Namespace) -> int:
    """The crontab line of the spec."""
    log = Path(args.log) if args.log else Path(spec.runs_dir) / f"{spec.study}-cron.log"
    line = crontab_line(spec, args.every, log.resolve())
    if not spec.storage_password_file:
        print(
            f"# if the storage needs a password, put {STORAGE_ENV}=postgresql://USER:PASSWORD@... "
            f"on a line above (crontab -e; the file stays yours) or name a storage_password_file "
            f"in the spec"
        )
    print(line)
    return 0


def _worker(spec: Any, args: argparse.Namespace) -> int:
    """One worker of a Slurm array task."""
    from hpo.schedule.runner import run_worker

    outcome = run_worker(spec)
    logger.info(
        "worker done: study %r holds %d trials", outcome.study.study_name, len(outcome.study.trials)
    )
    return 0
