"""Scheduled sweeps: a spec file, Slurm job arrays of workers, and cron top-ups under a lock."""
