"""A new trial's optuna-dashboard note: readable by optuna-dashboard, written without reading the study."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna_dashboard import get_note, save_note

from hpo.study.setup import connect_storage
from hpo.study.trial_note import NOTE_CHUNK_LENGTH, save_new_trial_note


class CountingStorage(optuna.storages.InMemoryStorage):
    """An in-memory storage that counts reads of the study's system attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.study_attr_reads = 0

    def get_study_system_attrs(self, study_id: int):
        self.study_attr_reads += 1
        return super().get_study_system_attrs(study_id)


@pytest.mark.parametrize("length", [60, NOTE_CHUNK_LENGTH, NOTE_CHUNK_LENGTH + 1, 5000])
def test_optuna_dashboard_reads_the_note_back(tmp_path: Path, length: int) -> None:
    study = optuna.create_study(storage=connect_storage(f"sqlite:///{tmp_path / 's.db'}"))
    body = "".join(chr(ord("a") + i % 26) for i in range(length))
    earlier = study.ask()
    save_note(earlier, "a note of another trial")
    trial = study.ask()
    save_new_trial_note(trial, body)
    assert get_note(trial) == body
    assert get_note(earlier) == "a note of another trial"


def test_a_short_note_does_not_read_the_study_attributes() -> None:
    """optuna-dashboard's save_note reads them all (they grow with every trial's note)."""
    storage = CountingStorage()
    study = optuna.create_study(storage=storage)
    for number in range(3):
        save_new_trial_note(study.ask(), f"MLflow run {number}")
    assert storage.study_attr_reads == 0
    assert [get_note(optuna.Trial(study, t._trial_id)) for t in study.trials] == [
        f"MLflow run {number}" for number in range(3)
    ]
