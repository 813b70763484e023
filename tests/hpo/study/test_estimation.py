"""The estimation pruner on synthetic learning curves whose right answers are known."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpo.study.estimation import TRAIN_LOSS_ATTR, EstimationPruner, estimate


def study_with(curves: list[list[float]], directions=("minimize",), state=TrialState.COMPLETE):
    study = optuna.create_study(directions=list(directions))
    for curve in curves:
        values = [curve[-1]] * len(directions) if state == TrialState.COMPLETE else None
        study.add_trial(
            create_trial(state=state, values=values, user_attrs={TRAIN_LOSS_ATTR: curve})
        )
    return study


FINISHED = [[float(level)] * 10 for level in (1, 2, 3, 4, 5)]  # estimates at epoch 3: 3..15


def test_the_worse_half_by_summed_loss_is_stopped_from_a_quarter_of_the_budget() -> None:
    study = study_with(FINISHED)
    pruner = EstimationPruner(max_epochs=10)  # starts at epoch 3; cutoff: the median, 9
    assert pruner.prune_curve(study, [6.0, 6.0, 6.0])  # 18 > 9
    assert not pruner.prune_curve(study, [1.5, 1.5, 1.5])  # 4.5 < 9
    assert not pruner.prune_curve(study, [6.0, 6.0])  # epoch 2: before a quarter of 10
    assert not EstimationPruner(10, min_finished=6).prune_curve(study, [6.0] * 3)  # 5 finished


def test_it_ranks_by_the_estimate_not_by_the_last_value() -> None:
    study = study_with(FINISHED)
    pruner = EstimationPruner(max_epochs=10)
    assert pruner.prune_curve(study, [10.0, 10.0, 0.5])  # best last value, worst sum
    assert not pruner.prune_curve(study, [0.1, 0.1, 4.9])  # worst last value, best sum


def test_a_multi_objective_study_and_shorter_pruned_curves() -> None:
    study = study_with(FINISHED, directions=("minimize", "maximize"))
    pruned = [[9.0, 9.0, 9.0]] * 4  # stopped at epoch 3: they count up to there only
    for curve in pruned:
        study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={TRAIN_LOSS_ATTR: curve}))
    pruner = EstimationPruner(max_epochs=10)
    assert pruner.prune_curve(study, [5.5, 5.5, 5.5])  # 16.5 against 3..15 and four 27s: 15
    # epoch 4: only the five that reached it count (4..20, cutoff 12), not the pruned 27s
    assert not pruner.prune_curve(study, [2.5] * 4)
    assert pruner.prune_curve(study, [3.5] * 4)
    # Optuna's own entry point reads the running trial's attribute
    running = create_trial(state=TrialState.RUNNING, user_attrs={TRAIN_LOSS_ATTR: [6.0] * 3})
    assert pruner.prune(study, running)


def test_a_diverged_curve_is_the_worst_and_bad_settings_are_refused() -> None:
    assert estimate([1.0, float("nan")]) == float("inf")
    assert EstimationPruner(10).prune_curve(study_with(FINISHED), [1.0, float("nan"), 1.0])
    with pytest.raises(ValueError, match="prune_fraction"):
        EstimationPruner(10, prune_fraction=1.0)
