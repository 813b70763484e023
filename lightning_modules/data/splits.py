"""Seeded train/validation/test splits, saved beside checkpoints for exact reproduction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lightning_modules.data.atoms import DataError

SPLIT_NAMES = ("train", "val", "test")


def split_indices(
    n_structures: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, np.ndarray]:
    """Random disjoint train/val/test indices in proportion to ``fractions`` (seeded)."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise DataError(f"split fractions must be three non-negative numbers, got {fractions}")
    total = float(sum(fractions))
    permutation = np.random.default_rng(seed).permutation(n_structures)
    n_val = int(round(n_structures * fractions[1] / total))
    n_test = int(round(n_structures * fractions[2] / total))
    if fractions[1] > 0:
        n_val = max(n_val, 1)
    if fractions[2] > 0:
        n_test = max(n_test, 1)
    n_train = n_structures - n_val - n_test
    if n_train < 1:
        raise DataError(
            f"{n_structures} structure{'s are' if n_structures != 1 else ' is'} too few for a "
            f"{tuple(fractions)} split (train, validation and test each need one); add data"
        )
    return {
        "train": np.sort(permutation[:n_train]),
        "val": np.sort(permutation[n_train : n_train + n_val]),
        "test": np.sort(permutation[n_train + n_val :]),
    }


def save_split(split: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write the split indices to ``path`` (npz with arrays train, val, test)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, train=split["train"], val=split["val"], test=split["test"])
    return path


def load_split(path: str | Path) -> dict[str, np.ndarray]:
    """Read split indices written by :func:`save_split`."""
    with np.load(path) as archive:
        return {name: archive[name] for name in SPLIT_NAMES}
