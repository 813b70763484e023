"""A new trial's note in optuna-dashboard, written in two storage calls whatever the study's size.

optuna-dashboard keeps every note as system attributes of the *study* (a
version and the body in chunks of at most 2045 characters). Its
``save_note`` reads all of the study's system attributes twice to find the
note's next version and stale chunks, so its cost grows with the number of
trials: 59-84 ms per note in a study of 500 noted trials on SQLite, against
3-4 ms written here (``benchmarks/scaling.py --parts 2``, 2026-12-03). A
trial pesweep has just run has no note yet: its note is version 1 with
nothing to clear, so it is written directly in the same keys.
``tests/hpo/study/test_trial_note.py`` reads it back with optuna-dashboard's
own ``get_note``, so a change of that format fails
there. Longer bodies (several chunks) keep ``save_note``.
"""

from __future__ import annotations

import optuna
from optuna_dashboard import save_note

NOTE_CHUNK_LENGTH = 2045  # optuna-dashboard's longest system attribute value


def save_new_trial_note(trial: optuna.Trial, body: str) -> None:
    """Write ``body`` as the note of ``trial``, which has none yet (version 1)."""
    if len(body) > NOTE_CHUNK_LENGTH:
        save_note(trial, body)
        return
    study_id = trial.study._study_id
    prefix = f"dashboard:{trial._trial_id}"
    trial.storage.set_study_system_attr(study_id, f"{prefix}:note_str:0", body)
    trial.storage.set_study_system_attr(study_id, f"{prefix}:note_ver", 1)  # body first
