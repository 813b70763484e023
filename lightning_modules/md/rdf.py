"""Partial radial distributions of a finite cluster, per element pair, and their distance.

For a cluster there is no volume to normalise g(r) by, so each partial
distribution is the histogram of the pair's distances normalised to unit area,
``p_ab(r) = counts_ab(r) / (frames * pairs_ab * dr)``: the probability density
of an a-b distance. Peaks sit where g(r)'s do (an Au-O peak at 2.2 A for
adsorbed water); comparing two runs needs no density. The distance between two
runs is the L1 distance of the densities, ``∫|p - q| dr``, from 0 (identical)
to 2 (no overlap), averaged over the pairs both have.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from ase.data import chemical_symbols

DEFAULT_R_MAX = 6.0
DEFAULT_BINS = 120


def pair_label(a: int, b: int) -> str:
    """``"Au-O"``: the two symbols in the order of atomic number."""
    low, high = sorted((int(a), int(b)))
    return f"{chemical_symbols[low]}-{chemical_symbols[high]}"


def pair_distributions(
    numbers: np.ndarray,
    frames: Iterable[np.ndarray],
    r_max: float = DEFAULT_R_MAX,
    bins: int = DEFAULT_BINS,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"Au-O": (r, p)}``: bin centres (A) and the density of each pair's distances.

    ``frames`` are (n, 3) position arrays of the same atoms; distances beyond
    ``r_max`` fall outside the histogram but still count in the normalisation.
    """
    numbers = np.asarray(numbers)
    edges = np.linspace(0.0, r_max, bins + 1)
    i, j = np.triu_indices(len(numbers), k=1)
    labels = np.array([pair_label(numbers[a], numbers[b]) for a, b in zip(i, j, strict=True)])
    counts = {label: np.zeros(bins) for label in sorted(set(labels.tolist()))}
    n_frames = 0
    for positions in frames:
        n_frames += 1
        distances = np.linalg.norm(positions[i] - positions[j], axis=1)
        for label in counts:
            mask = labels == label
            counts[label] += np.histogram(distances[mask], bins=edges)[0]
    width = edges[1] - edges[0]
    centres = 0.5 * (edges[1:] + edges[:-1])
    result = {}
    for label, count in counts.items():
        pairs = int((labels == label).sum())
        density = count / (max(n_frames, 1) * pairs * width)
        result[label] = (centres, density)
    return result


def rdf_distance(
    run: dict[str, tuple[np.ndarray, np.ndarray]],
    reference: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, float]:
    """L1 distance ``∫|p - q| dr`` per pair both hold, and their mean under ``"mean"``."""
    distances = {}
    for label in sorted(set(run) & set(reference)):
        r, p = run[label]
        r_ref, q = reference[label]
        if len(r) != len(r_ref) or not np.allclose(r, r_ref):
            raise ValueError(f"{label}: the two distributions use different bins")
        width = float(r[1] - r[0]) if len(r) > 1 else 1.0
        distances[label] = float(np.abs(p - q).sum() * width)
    if distances:
        distances["mean"] = float(np.mean(list(distances.values())))
    return distances


def first_peak(r: np.ndarray, density: np.ndarray, fraction: float = 0.1) -> float:
    """Where the first peak of a pair's distribution sits (A); nan if the pair never occurs.

    The first local maximum of the density (smoothed over three bins, so one
    noisy bin on a rising edge is no peak) that reaches ``fraction`` of its
    highest value: the nearest-neighbour distance of the pair, the number the
    ænet study compares (an Au-O peak at 1.07 A is a collapsed water, 2.2 A an
    adsorbed one).
    """
    density = np.asarray(density, dtype=float)
    if density.size == 0 or not np.any(density > 0):
        return float("nan")
    smooth = np.convolve(np.pad(density, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    threshold = fraction * smooth.max()
    for i, value in enumerate(smooth):
        left = smooth[i - 1] if i > 0 else -np.inf
        right = smooth[i + 1] if i + 1 < smooth.size else -np.inf
        if value >= threshold and value >= left and value > right:
            return float(r[i])
    return float(r[int(np.argmax(smooth))])  # a plateau to the end: its highest bin
