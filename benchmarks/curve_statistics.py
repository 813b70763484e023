"""Statistics of best-so-far curves of sweeps, for :mod:`hpo_efficiency` (pure functions).

A curve is a list of (trial-epochs spent, best value so far) after each
finished trial. See the docstring of ``hpo_efficiency.py`` for the two
summaries these functions compute.
"""

from __future__ import annotations

import numpy as np


def saving(
    random_curve: list[tuple[int, float]], tpe_curve: list[tuple[int, float]]
) -> tuple[int | None, float]:
    """Trial-epochs TPE+pruning spent to reach random's final best, and the fraction saved."""
    target = random_curve[-1][1]
    reached = next((spent for spent, best in tpe_curve if best <= target), None)
    return reached, (1 - reached / random_curve[-1][0]) if reached else 0.0


def best_within(curve: list[tuple[int, float]], limit: int) -> float:
    """The best value of the trials finished within ``limit`` trial-epochs (inf before any)."""
    best = float("inf")
    for spent, value in curve:
        if spent > limit:
            break
        best = value
    return best


def best_ratios(
    random_curves: list[list[tuple[int, float]]],
    other_curves: list[list[tuple[int, float]]],
    budget: int,
) -> np.ndarray:
    """[seed, x - 1]: the other side's best within x trial-epochs / random's final best."""
    finals = np.array([curve[-1][1] for curve in random_curves])
    return (
        np.array(
            [
                [best_within(curve, limit) for limit in range(1, budget + 1)]
                for curve in other_curves
            ]
        )
        / finals[:, None]
    )


def saving_at_equal_mean(ratios: np.ndarray) -> tuple[int | None, float]:
    """Fewest trial-epochs x at which the ratios (:func:`best_ratios`) average <= 1 over seeds.

    The fraction saved is 1 - x / budget (0 when the average never gets to 1).
    """
    reached = np.flatnonzero(ratios.mean(axis=0) <= 1.0)
    if len(reached) == 0:
        return None, 0.0
    return int(reached[0]) + 1, 1 - (reached[0] + 1) / ratios.shape[1]


def bootstrap_savings(ratios: np.ndarray, draws: int = 2000) -> np.ndarray:
    """:func:`saving_at_equal_mean` on seeds resampled with replacement (a fixed stream)."""
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(ratios), size=(draws, len(ratios)))
    return np.array([saving_at_equal_mean(ratios[pick])[1] for pick in picks])


def time_to_common_target(
    random_curve: list[tuple[int, float]], tpe_curve: list[tuple[int, float]]
) -> float:
    """1 - (TPE+pruning's trial-epochs) / (random's) to reach the worse of the two final bests."""
    target = max(random_curve[-1][1], tpe_curve[-1][1])
    random_spent = next(spent for spent, best in random_curve if best <= target)
    tpe_spent = next(spent for spent, best in tpe_curve if best <= target)
    return 1 - tpe_spent / random_spent


def standard_error(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))
