"""The search suite's own strategies behave as their names say."""

from __future__ import annotations

import sys

import optuna

from tests.support.commands import BENCHMARKS

sys.path.insert(0, str(BENCHMARKS))

from hpo_suite import STRATEGIES, suite_pruner  # noqa: E402

from hpo.study.registries import build_pruner, build_sampler  # noqa: E402
from search_spaces.space import parse_space  # noqa: E402


def _params(sampler: optuna.samplers.BaseSampler, target: float, n: int) -> list[float]:
    """The x of ``n`` trials minimising (x - target)^2 with ``sampler``."""
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda trial: (trial.suggest_float("x", 0.0, 1.0) - target) ** 2, n_trials=n)
    return [t.params["x"] for t in study.trials]


def test_tpe_with_twenty_start_up_trials_draws_twenty_at_random_then_models() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    [name] = {sampler for sampler, _ in STRATEGIES.values() if sampler.startswith("tpe-startup")}
    space = parse_space("name: x\nmodel: aenet\nparams:\n  lr: 1.0e-3\n")
    # two objectives: a trial drawn at random does not depend on what came before it
    near_zero = _params(build_sampler(name, 7, space), 0.0, 24)
    near_one = _params(build_sampler(name, 7, space), 1.0, 24)
    assert near_zero[:20] == near_one[:20]
    assert near_zero[20:] != near_one[20:]  # from trial 20 on, TPE models the results
    # the first ten are pesweep's "tpe" start-up trials of the same seed (paired strategies),
    # whose model then takes over at trial 10
    plain = _params(build_sampler("tpe", 7, space), 0.0, 20)
    assert plain[:10] == near_zero[:10]
    assert plain[10:20] != near_zero[10:20]


def _pruned_at(pruner: optuna.pruners.BasePruner) -> list[int | None]:
    """Eight trials, the n-th reporting n + 1 at every epoch of six: the epochs (1-based) each
    ran before it stopped. A sweep reports an epoch at its 0-based index, as Lightning counts."""
    study = optuna.create_study(pruner=pruner)
    stopped: list[int | None] = []
    for n in range(8):
        trial = study.ask()
        for epoch in range(6):
            trial.report(float(n + 1), epoch)
            if trial.should_prune():
                stopped.append(epoch + 1)
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            stopped.append(None)
            study.tell(trial, float(n + 1))
    return stopped


def test_halving_from_three_epochs_ranks_no_trial_before_its_third() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner, own = suite_pruner(STRATEGIES["tpe+halving-from-3"][1])
    assert pruner == "successive-halving"  # as the sweep records it
    later = _pruned_at(own["pruner_override"])
    assert set(later) == {3, None}  # worse trials stop after three epochs; the rest run six
    assert later[0] is None  # the best runs all six
    # pesweep's own successive halving (tpe+halving's, no override) first ranks after the second
    assert suite_pruner(STRATEGIES["tpe+halving"][1]) == ("successive-halving", {})
    assert min(e for e in _pruned_at(build_pruner("successive-halving", 6)) if e) == 2
