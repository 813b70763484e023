"""The Optuna study: set-up and resume, retries of stale trials, trial records, the SQLite journal."""
