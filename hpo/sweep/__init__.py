"""Running a sweep: its settings, the objective, the trial loop, workers, the parent run and sync."""
