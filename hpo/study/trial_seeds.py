"""A sampler seeded per trial: the study's seed and the trial's number give each trial its stream.

Every process of a sweep (``--workers K``, the tasks of a Slurm array, a
second terminal on a shared study) builds the study's sampler. Seeded once per
process, processes that start together draw the same configurations one after
the other: two workers ran the same trial twice, a pruned configuration came
back. Optuna says as much of a fixed seed in several processes, and randomises
it for ``n_jobs > 1``. :class:`TrialSeededSampler` keeps the seed and makes the
sampler afresh before each trial, seeded from the study's seed and the trial's
number, which the storage gives out once: no two trials share a stream,
whichever process runs them, and a sweep is reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial ``number`` of a study seeded ``seed`` (independent streams per trial)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """``make(seed)``'s sampler, made again before every trial with that trial's seed."""

    def __init__(self, make: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self._make = make
        self._seed = seed
        self._sampler = make(seed)

    @property
    def sampler(self) -> optuna.samplers.BaseSampler:
        """The sampler of the current trial (its class is the sampler the study names)."""
        return self._sampler

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._sampler = self._make(trial_seed(self._seed, trial.number))
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._sampler.reseed_rng()
