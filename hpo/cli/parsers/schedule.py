"""The arguments of ``pesweep schedule slurm|run|cron|worker SPEC``."""

from __future__ import annotations

from typing import Any


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
    schedule.set_defaults(handler="schedule:run_schedule")
