"""--pruner estimate in real sweeps: every trial records its training-loss curve, the worse stop."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpo.study.estimation import TRAIN_LOSS_ATTR
from hpo.sweep.loss_curve import earlier_curve
from hpo.sweep.runner import run_sweep


@pytest.mark.parametrize("objectives", [("energy_mae",), ("energy_mae", "n_params")])
def test_trials_worse_than_the_finished_ones_stop_at_the_start_epoch(
    sweep_options, objectives
) -> None:
    first = run_sweep(sweep_options(n_trials=1, max_epochs=4, objectives=objectives))
    [trained] = first.study.trials
    assert len(trained.user_attrs[TRAIN_LOSS_ATTR]) == 4  # one epoch-mean loss per epoch
    assert all(value > 0 for value in trained.user_attrs[TRAIN_LOSS_ATTR])
    for _ in range(3):  # finished trials no real training can match: every new one is worse
        first.study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                values=[1e9] * len(objectives),
                user_attrs={TRAIN_LOSS_ATTR: [1e-12] * 4},
            )
        )
    again = run_sweep(
        sweep_options(
            space=None, data=None, n_trials=2, pruner="estimate", objectives=None, max_epochs=None
        )
    )
    stopped = again.study.trials[-2:]
    assert [t.state for t in stopped] == [TrialState.PRUNED, TrialState.PRUNED]
    # a quarter of 4 epochs: ranked (and stopped) after the first
    assert [len(t.user_attrs[TRAIN_LOSS_ATTR]) for t in stopped] == [1, 1]


def test_a_retried_trial_continues_the_lost_trial_s_curve() -> None:
    study = optuna.create_study()
    study.add_trial(
        create_trial(state=TrialState.FAIL, user_attrs={TRAIN_LOSS_ATTR: [3.0, 2.0, 1.5]})
    )
    retry = study.ask()
    assert earlier_curve(retry, lost_number=0, epochs=2) == [3.0, 2.0]
    assert earlier_curve(retry, lost_number=7, epochs=2) == []
