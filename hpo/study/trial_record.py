"""What a finished trial records in the study: one user attribute, written once.

Every write to an Optuna storage is a transaction (about 2 ms on SQLite and
PostgreSQL), so a trial's results go into the storage as one attribute,
``result``, instead of one per number: its checkpoint, size, training time,
epochs, inference time, test metrics and learning curve. Readers take them
through :func:`trial_result`, which also reads the separate attributes that
studies made before this layout hold.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial

RESULT_ATTR = "result"
RESULT_KEYS = (
    "checkpoint_path",
    "checkpoint_sha256",
    "n_params",
    "train_seconds",
    "epochs",
    "inference_ms_per_structure",
    "test_metrics",
    "history",
)


def trial_result(trial: FrozenTrial) -> dict[str, Any]:
    """The recorded results of ``trial`` ({} for a trial that did not finish)."""
    stored = trial.user_attrs.get(RESULT_ATTR)
    if isinstance(stored, dict):
        return stored
    return {key: trial.user_attrs[key] for key in RESULT_KEYS if key in trial.user_attrs}


def best_trial(study: Any) -> FrozenTrial | None:
    """The best complete trial of a single-objective study that meets its constraints; None
    when there is none (no trial finished, or every one failed an ``--md-constraint``)."""
    try:
        return study.best_trial
    except ValueError:  # Optuna: "No feasible trials are completed yet." (or none at all)
        return None
