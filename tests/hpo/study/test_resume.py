"""One resume policy per field of a study's set-up, checked field by field."""

from __future__ import annotations

import dataclasses

import pytest

from hpo.runtime.errors import StudyError
from hpo.study.resume import BINDING, BINDING_FIELDS, MAY_CHANGE, RESUME_POLICY, resume_conflicts
from hpo.study.setup import StudySetup
from hpo.sweep.runner import run_sweep

STORED = StudySetup(
    space_text="model: schnet\n",
    space_origin="tiny.yaml",
    data=("/data/a.xyz",),
    data_hashes=("abc",),
    energy_unit="ev",
    max_epochs=2,
    seed=0,
    sampler="random",
    pruner="none",
    objectives=("energy_mae",),
    tracking_uri="sqlite:///mlflow.db",
    train_overrides={"batch_size": 20},
    init_from="",
    study_uid="0" * 32,
    md_spec={},
    md_constraint=False,
)

# a value other than STORED's for every field
OTHER = {
    "space_text": "model: aenet\n",
    "space_origin": "other.yaml",
    "data": ("/data/b.xyz",),
    "data_hashes": ("def",),
    "energy_unit": "hartree",
    "max_epochs": 5,
    "seed": 3,
    "sampler": "tpe",
    "pruner": "median",
    "objectives": ("energy_mae", "n_params"),
    "tracking_uri": "http://mlflow:5000",
    "train_overrides": {"batch_size": 16},
    "init_from": "models:/seb@pretrained",
    "study_uid": "1" * 32,
    "md_spec": {"structure": "start.xyz"},
    "md_constraint": True,
}


def test_every_field_of_the_set_up_has_one_policy() -> None:
    fields = {field.name for field in dataclasses.fields(StudySetup)}
    assert set(RESUME_POLICY) == fields == set(OTHER)


@pytest.mark.parametrize("name", sorted(RESUME_POLICY))
def test_a_resume_that_changes_one_field(name) -> None:
    conflicts = resume_conflicts(STORED, {name: OTHER[name]})
    if RESUME_POLICY[name] == BINDING:
        assert len(conflicts) == 1, name
    else:  # may change for this run, or recorded once and never compared
        assert conflicts == [], name
    assert resume_conflicts(STORED, {name: getattr(STORED, name)}) == []


def test_the_difference_is_named_with_both_values() -> None:
    [unit] = resume_conflicts(STORED, {"energy_unit": "hartree"})
    assert unit == "--energy-unit is 'ev' in the study, 'hartree' now"
    [settings] = resume_conflicts(STORED, {"train_overrides": {"batch_size": 16}})
    assert "batch_size" in settings and "20" in settings
    assert set(BINDING_FIELDS) >= {"energy_unit", "seed", "max_epochs", "objectives"}
    assert RESUME_POLICY["sampler"] == RESUME_POLICY["pruner"] == MAY_CHANGE


def test_a_resume_by_name_refuses_another_unit_or_seed_and_takes_another_sampler(
    sweep_options,
) -> None:
    first = run_sweep(sweep_options(n_trials=1))
    by_name = {"space": None, "data": None, "n_trials": 1}
    with pytest.raises(StudyError, match="--energy-unit is 'ev' in the study, 'hartree' now"):
        run_sweep(sweep_options(**by_name, energy_unit="hartree"))
    with pytest.raises(StudyError, match="--seed is 0 in the study, 4 now"):
        run_sweep(sweep_options(**by_name, seed=4))
    assert len(first.study.trials) == 1  # refused before a trial ran
    again = run_sweep(sweep_options(**by_name, sampler="tpe", energy_unit="eV"))
    assert len(again.study.trials) == 2
