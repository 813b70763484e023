"""``pesweep schedule slurm|run|cron|worker SPEC``: the command line of scheduled sweeps."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger("pesweep")


def run_schedule(args: argparse.Namespace) -> int:
    from hpo.schedule.spec import load_spec

    spec = load_spec(args.spec)
    handlers = {"slurm": _slurm, "run": _run, "cron": _cron, "worker": _worker}
    return handlers[args.action](spec, args)


def _slurm(spec: Any, args: argparse.Namespace) -> int:
    from hpo.schedule.runner import sweep_options
    from hpo.schedule.slurm import submit, write_job_script

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
    from hpo.schedule.lock import LockHeld, study_lock
    from hpo.tracking.stores import mask_url

    try:
        with study_lock(spec):  # before torch, Lightning and MLflow are imported
            from hpo.cli.sweep_commands import print_summary
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
    from hpo.schedule.cron import crontab_line
    from hpo.tracking.stores import STORAGE_ENV

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
    from hpo.schedule.runner import run_worker

    outcome = run_worker(spec)
    logger.info(
        "worker done: study %r holds %d trials", outcome.study.study_name, len(outcome.study.trials)
    )
    return 0


def add_schedule_commands(sub: Any) -> None:
    schedule = sub.add_parser(
        "schedule",
        help="scheduled sweeps from a spec file: Slurm job arrays, cron top-ups",
        description="slurm: write (--submit: and sbatch) a job array whose tasks are workers on "
        "the spec's study; run: add the spec's trials_per_run under a lock, then promote by its "
        "rule (safe from cron; a second run exits 0 naming the holder); cron: print the crontab "
        "line that runs 'schedule run'; worker: what each array task runs. The spec is YAML "
        "(study, storage, tracking_uri, space, data, energy_unit, max_epochs, trials_per_run, "
        "study_trials, time_budget, runs_dir, slurm: {partition, time, cpus_per_task, "
        "gpus_per_task, mem, array, max_concurrent, signal_margin}, promote: {model, alias, "
        "require_better}); passwords come from $PESWEEP_STORAGE or storage_password_file, "
        "never from the spec.",
    )
    schedule.add_argument("action", choices=["slurm", "run", "cron", "worker"])
    schedule.add_argument("spec", help="the sweep spec (YAML)")
    schedule.add_argument("--submit", action="store_true", help="slurm: submit with sbatch")
    schedule.add_argument("--out", help="slurm: where the job script goes")
    schedule.add_argument(
        "--overwrite", action="store_true", help="slurm: replace an existing job script"
    )
    schedule.add_argument(
        "--every", default="0 2 * * *", help="cron: the schedule (crontab fields; daily at 02:00)"
    )
    schedule.add_argument("--log", help="cron: the log file (default <runs_dir>/<study>-cron.log)")
    schedule.set_defaults(handler=run_schedule)
