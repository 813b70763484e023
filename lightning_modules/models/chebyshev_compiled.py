"""ænet's Chebyshev descriptor and its Jacobian for one structure, compiled from its pair list.

The descriptor cache (:mod:`lightning_modules.batching.feature_cache`)
computes every structure's descriptors, and the Jacobians of those whose
forces are used, once per descriptor setting; a sweep over cutoffs does so
in every trial. Vectorised in PyTorch (:mod:`.descriptors`), that work
builds arrays over all angular triplets (tens of thousands per atom at a
7 Angstrom cutoff in TiO2) and scatters them back. Here the same arithmetic
runs as loops compiled by numba, centre by centre over its neighbours and
their pairs, adding straight into the descriptor and the Jacobian: no
triplet arrays. The descriptor agrees with ænet's Fortran values and with
:func:`~.descriptors.chebyshev_descriptor`, the Jacobian with that
function's autograd derivative, in float64 to rounding (tests). The
Jacobian: every term of G_i is a function of pair vectors r_ij = R_j - R_i
(+ shift), so dG_i/dR_j = g_ij (summed over j's images) and dG_i/dR_i =
-sum_j g_ij, with g_ij = dG_i/dr_ij; an angular term's gradient falls on
both of its pairs.

The Chebyshev helpers are shared with the compiled cluster model
(:mod:`.aenet_cluster`). Everything here is a pure function of arrays.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def chebyshev_values(x: float, order: int, values: np.ndarray) -> None:
    """T_0..T_order(x) into ``values`` (the recurrence of ``chebyshev_polynomials``)."""
    values[0] = 1.0
    if order >= 1:
        values[1] = x
    for m in range(2, order + 1):
        values[m] = 2.0 * x * values[m - 1] - values[m - 2]


@numba.njit(cache=True, error_model="numpy")
def chebyshev_slopes(x: float, order: int, second: np.ndarray, values: np.ndarray) -> None:
    """dT_m/dx = m U_{m-1}(x) into ``values`` (``second`` holds U_0..U_{order-1})."""
    second[0] = 1.0
    if order >= 2:
        second[1] = 2.0 * x
    for m in range(2, order):
        second[m] = 2.0 * x * second[m - 1] - second[m - 2]
    values[0] = 0.0
    for m in range(1, order + 1):
        values[m] = m * second[m - 1]


@numba.njit(cache=True, error_model="numpy")
def structure_features(
    vectors: np.ndarray,
    starts: np.ndarray,
    neighbours: np.ndarray,
    spins: np.ndarray,
    radial_cutoff: float,
    radial_order: int,
    angular_cutoff: float,
    angular_order: int,
    weighted: bool,
    with_jacobian: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors [n, length] of one structure and, with ``with_jacobian``, dG/dR.

    The pairs are sorted by centre: atom i's run from ``starts[i]`` to
    ``starts[i + 1]`` (``starts`` [n + 1]); ``neighbours`` [n_pairs] are the
    neighbours' atom indices, ``vectors`` [n_pairs, 3] Angstrom point from
    the centre to the neighbour's image, ``spins`` [n] are the atoms' type
    spins. The layout is :func:`~.descriptors.chebyshev_descriptor`'s. The
    Jacobian is [n * length, n * 3], row i * length + l, column k * 3 + c:
    dG_i[l]/dR_k[c], periodic images of k adding up on k (the cache's
    layout); without ``with_jacobian`` it is empty, [0, 0].
    """
    n = starts.shape[0] - 1
    n_radial, n_angular = radial_order + 1, angular_order + 1
    half = n_radial + n_angular
    length = 2 * half if weighted else half
    features = np.zeros((n, length))
    jacobian = np.zeros((n * length, n * 3) if with_jacobian else (0, 0))
    size = max(n_radial, n_angular)
    values, slopes, second = np.empty(size), np.empty(size), np.empty(size)
    most = 0
    for i in range(n):
        most = max(most, starts[i + 1] - starts[i])
    lengths, cut, cut_slope = np.empty(most), np.empty(most), np.empty(most)
    inside = np.empty(most, np.int64)  # a centre's pairs within the angular cutoff
    for i in range(n):
        first, count = starts[i], starts[i + 1] - starts[i]
        row = i * length
        n_inside = 0
        for p in range(count):
            a = vectors[first + p]
            distance = math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])
            lengths[p] = distance
            j = neighbours[first + p]
            if distance < angular_cutoff:
                inside[n_inside] = p
                n_inside += 1
                cut[p] = 0.5 * (math.cos(distance * math.pi / angular_cutoff) + 1.0)
                cut_slope[p] = (
                    -0.5 * math.pi / angular_cutoff * math.sin(math.pi * distance / angular_cutoff)
                )
            if distance >= radial_cutoff:
                continue
            fc = 0.5 * (math.cos(distance * math.pi / radial_cutoff) + 1.0)
            x = 2.0 * distance / radial_cutoff - 1.0
            chebyshev_values(x, radial_order, values)
            for m in range(n_radial):
                features[i, m] += fc * values[m]
                if weighted:
                    features[i, half + m] += fc * values[m] * spins[j]
            if not with_jacobian:
                continue
            dfc = -0.5 * math.pi / radial_cutoff * math.sin(math.pi * distance / radial_cutoff)
            chebyshev_slopes(x, radial_order, second, slopes)
            for m in range(n_radial):
                along = dfc * values[m] + fc * slopes[m] * (2.0 / radial_cutoff)
                for c in range(3):
                    g = along * a[c] / distance
                    jacobian[row + m, j * 3 + c] += g
                    jacobian[row + m, i * 3 + c] -= g
                    if weighted:
                        jacobian[row + half + m, j * 3 + c] += g * spins[j]
                        jacobian[row + half + m, i * 3 + c] -= g * spins[j]
        for u in range(n_inside):
            p = inside[u]
            a = vectors[first + p]
            da = lengths[p]
            j = neighbours[first + p]
            for w in range(u + 1, n_inside):
                q = inside[w]
                db = lengths[q]
                b = vectors[first + q]
                k = neighbours[first + q]
                dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
                cosine = min(1.0, max(-1.0, dot / (da * db)))
                fa, fb = cut[p], cut[q]
                weight = fa * fb
                chebyshev_values(cosine, angular_order, values)
                pair_spin = spins[j] * spins[k]
                for m in range(n_angular):
                    features[i, n_radial + m] += weight * values[m]
                    if weighted:
                        features[i, half + n_radial + m] += weight * values[m] * pair_spin
                if not with_jacobian:
                    continue
                chebyshev_slopes(cosine, angular_order, second, slopes)
                for c in range(3):
                    along_a = cut_slope[p] * fb / da * a[c]
                    along_b = fa * cut_slope[q] / db * b[c]
                    dcos_a = weight * (b[c] / (da * db) - cosine * a[c] / (da * da))
                    dcos_b = weight * (a[c] / (da * db) - cosine * b[c] / (db * db))
                    for m in range(n_angular):
                        grad_a = values[m] * along_a + slopes[m] * dcos_a
                        grad_b = values[m] * along_b + slopes[m] * dcos_b
                        line = row + n_radial + m
                        jacobian[line, j * 3 + c] += grad_a
                        jacobian[line, k * 3 + c] += grad_b
                        jacobian[line, i * 3 + c] -= grad_a + grad_b
                        if weighted:
                            line += half
                            jacobian[line, j * 3 + c] += grad_a * pair_spin
                            jacobian[line, k * 3 + c] += grad_b * pair_spin
                            jacobian[line, i * 3 + c] -= (grad_a + grad_b) * pair_spin
    return features, jacobian
