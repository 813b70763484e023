"""Samplers, pruners and objectives are tables: one entry is all a new one needs."""

from __future__ import annotations

import math

import optuna
import pytest

from hpo.cli.main import build_parser
from hpo.runtime.errors import StudyError
from hpo.study import registries
from hpo.study.registries import (
    OBJECTIVES,
    TrialMeasures,
    build_pruner,
    build_sampler,
    objective_values,
)
from hpo.sweep.options import SweepOptions, validate_options
from search_spaces.space import load_space


def test_every_sampler_and_pruner_builds_and_unknown_names_are_one_line() -> None:
    space = load_space("demo")
    for name in registries.SAMPLERS:
        if name == "grid":  # needs a space of steps and choices: Table 1's
            grid = build_sampler(name, 0, load_space("schnet_table1"))
            assert isinstance(grid.sampler, optuna.samplers.GridSampler)
            continue
        assert isinstance(build_sampler(name, 0, space), optuna.samplers.BaseSampler)
    for name in registries.PRUNERS:
        assert isinstance(build_pruner(name, 10), optuna.pruners.BasePruner)
    with pytest.raises(StudyError, match="unknown sampler 'bogus'; choose one of tpe"):
        build_sampler("bogus", 0, space)
    with pytest.raises(StudyError, match="takes no constraints"):
        build_sampler("random", 0, space, constrained=True)


@pytest.mark.parametrize("name", ["tpe", "tpe-startup-20", "random", "gp", "cmaes", "nsga2", "qmc"])
def test_processes_on_one_study_do_not_repeat_each_others_configurations(name, tmp_path) -> None:
    """Workers that start together on one study with its seed: each trial draws its own."""
    from search_spaces.suggest import suggest

    space = load_space("demo")
    storage = f"sqlite:///{tmp_path / 'study.db'}"

    def draws(study_name: str, workers: int) -> list[tuple]:
        processes = [  # each builds the study's sampler from its seed, as a worker does
            optuna.create_study(
                study_name=study_name,
                storage=storage,
                load_if_exists=True,
                sampler=build_sampler(name, 7, space),
            )
            for _ in range(workers)
        ]
        configurations = []
        for number in range(6):  # the workers take turns, as when their trials end in turn
            study = processes[number % workers]
            trial = study.ask()
            configurations.append(tuple(sorted(suggest(trial, space).items())))
            study.tell(trial, float(number))
        return configurations

    two = draws("two workers", 2)
    assert len(set(two)) == len(two), two  # no configuration drawn twice
    # trial n draws what it draws in a one-process sweep of the same seed: reproducible
    assert two == draws("one worker", 1) == draws("one worker again", 1)


def test_objectives_read_what_a_trial_measured() -> None:
    measures = TrialMeasures(0.5, n_params=1200, inference_ms=3.0, md_stable_ps=None, val_loss=0.2)
    names = ("energy_mae", "loss", "n_params", "inference_time", "md_stable_ps")
    assert set(OBJECTIVES) == set(names)
    values = objective_values(names, measures)
    assert values[:4] == (0.5, 0.2, 1200.0, 3.0) and math.isnan(values[4])
    assert {name for name, kind in OBJECTIVES.items() if kind.maximise} == {"md_stable_ps"}
    assert {name for name, kind in OBJECTIVES.items() if kind.per_epoch} == {"energy_mae", "loss"}


def test_a_loss_objective_reports_the_validation_loss_every_epoch(sweep_options) -> None:
    from hpo.study.trial_record import trial_result
    from hpo.sweep.runner import run_sweep

    outcome = run_sweep(sweep_options(n_trials=1, objectives=("loss",)))
    [trial] = outcome.study.trials
    history = trial_result(trial)["history"]
    assert list(trial.intermediate_values.values()) == [epoch["val_loss"] for epoch in history]
    best_epoch = min(history, key=lambda epoch: epoch["val_energy_mae_eV"])  # the checkpoint's
    assert trial.value == pytest.approx(best_epoch["val_loss"])
    assert outcome.study.metric_names == ["val_loss"]


def test_one_new_entry_is_a_new_choice_everywhere(monkeypatch) -> None:
    monkeypatch.setitem(
        registries.SAMPLERS, "halton", lambda seed, space: optuna.samplers.QMCSampler(seed=seed)
    )
    monkeypatch.setitem(
        registries.OBJECTIVES,
        "size_mae",
        registries.ObjectiveKind("size_mae", False, lambda m: m.best_val * m.n_params),
    )
    args = build_parser().parse_args(["sweep", "--study", "s", "--sampler", "halton"])
    assert args.sampler == "halton"
    validate_options(SweepOptions(study_name="s", sampler="halton", objectives=("size_mae",)))
    sampler = build_sampler("halton", 0, load_space("demo"))
    assert isinstance(sampler.sampler, optuna.samplers.QMCSampler)
    measures = TrialMeasures(best_val=0.5, n_params=10, inference_ms=1.0, md_stable_ps=2.0)
    assert objective_values(("size_mae",), measures) == (5.0,)
