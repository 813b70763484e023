"""ænet's energy and forces of a small cluster, compiled: the model step of an MD check.

The MD check of a 31-atom cluster spends its time in the model step, and of
that nearly all in PyTorch's per-operation overhead: about 150 small
operations forward and as many backward, each on a few thousand numbers.
Here the same arithmetic (:mod:`.descriptors`, the element networks of
:mod:`.aenet`, the switched ZBL repulsion of :mod:`.repulsion`) runs as
loops compiled by numba over the pairs and triplets of one non-periodic
structure, with forces by the chain rule written out (the descriptor's
derivative as in :mod:`~lightning_modules.models.chebyshev_compiled`,
without building the Jacobian), and the element networks' forward and
backward in NumPy. Energies and forces agree with the PyTorch model in
float64 to rounding (tests); only summation order differs.

Everything here is a pure function of arrays: :class:`AenetClusterModel`
holds the model's numbers as float64 arrays, built by
:meth:`AenetPotential.cluster_model <lightning_modules.models.aenet.AenetPotential.cluster_model>`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import erf

from lightning_modules.models.chebyshev_compiled import (
    chebyshev_slopes,
    chebyshev_values,
    structure_features,
)
from lightning_modules.models.repulsion import (
    COULOMB_EV_ANGSTROM,
    SWITCH_WIDTH,
    ZBL_COEFFICIENTS,
    ZBL_EXPONENTS,
    ZBL_LENGTH,
)

# the ZBL screening sum's coefficients and exponents, as arrays for the compiled loop
ZBL_TERMS = (np.array(ZBL_COEFFICIENTS), np.array(ZBL_EXPONENTS))
SOFTPLUS_THRESHOLD = 20.0  # torch.nn.functional.softplus's: x itself above it


@numba.njit(cache=True, error_model="numpy")
def _neighbours(
    positions: np.ndarray,
    i: int,
    cutoff: float,
    near: np.ndarray,
    vectors: np.ndarray,
    lengths: np.ndarray,
) -> int:
    """Atom i's neighbours closer than ``cutoff``: their indices, vectors r_j - r_i and
    distances into ``near``, ``vectors``, ``lengths``; returns how many."""
    count = 0
    for j in range(positions.shape[0]):
        if j == i:
            continue
        dx = positions[j, 0] - positions[i, 0]
        dy = positions[j, 1] - positions[i, 1]
        dz = positions[j, 2] - positions[i, 2]
        distance = math.sqrt(dx * dx + dy * dy + dz * dz)
        if distance < cutoff:
            near[count] = j
            vectors[count, 0], vectors[count, 1], vectors[count, 2] = dx, dy, dz
            lengths[count] = distance
            count += 1
    return count


@numba.njit(cache=True, error_model="numpy")
def cluster_descriptors(
    positions: np.ndarray,
    spins: np.ndarray,
    radial_cutoff: float,
    radial_order: int,
    angular_cutoff: float,
    angular_order: int,
    weighted: bool,
) -> np.ndarray:
    """ænet's Chebyshev descriptor of every atom of one non-periodic structure, [n, length].

    ``positions`` [n, 3] Angstrom, ``spins`` [n] each atom's type spin: the
    cluster's pairs, by centre, go to
    :func:`~lightning_modules.models.chebyshev_compiled.structure_features`.
    """
    n = positions.shape[0]
    cutoff = max(radial_cutoff, angular_cutoff)
    near = np.empty(n, np.int64)
    vectors = np.empty((n, 3))
    lengths = np.empty(n)
    starts = np.zeros(n + 1, np.int64)
    pair_vectors = np.empty((n * n, 3))  # room for every pair
    neighbours = np.empty(n * n, np.int64)
    for i in range(n):
        count = _neighbours(positions, i, cutoff, near, vectors, lengths)
        starts[i + 1] = starts[i] + count
        pair_vectors[starts[i] : starts[i + 1]] = vectors[:count]
        neighbours[starts[i] : starts[i + 1]] = near[:count]
    features, _ = structure_features(
        pair_vectors,
        starts,
        neighbours,
        spins,
        radial_cutoff,
        radial_order,
        angular_cutoff,
        angular_order,
        weighted,
        False,
    )
    return features


@numba.njit(cache=True, error_model="numpy")
def cluster_descriptor_gradient(
    positions: np.ndarray,
    spins: np.ndarray,
    radial_cutoff: float,
    radial_order: int,
    angular_cutoff: float,
    angular_order: int,
    weighted: bool,
    weights: np.ndarray,
) -> np.ndarray:
    """d/dR_k of sum_i weights_i . G_i, [n, 3]: the gradient of an energy whose
    derivative by the descriptors is ``weights`` [n, length]."""
    n = positions.shape[0]
    n_radial, n_angular = radial_order + 1, angular_order + 1
    half = n_radial + n_angular
    gradient = np.zeros((n, 3))
    cutoff = max(radial_cutoff, angular_cutoff)
    values = np.empty(max(n_radial, n_angular))
    slopes = np.empty(max(n_radial, n_angular))
    second = np.empty(max(n_radial, n_angular))
    near = np.empty(n, np.int64)
    vectors = np.empty((n, 3))
    lengths = np.empty(n)
    cut = np.empty(n)
    cut_slope = np.empty(n)
    for i in range(n):
        count = _neighbours(positions, i, cutoff, near, vectors, lengths)
        for p in range(count):
            distance, j = lengths[p], near[p]
            if distance < radial_cutoff:
                fc = 0.5 * (math.cos(distance * math.pi / radial_cutoff) + 1.0)
                dfc = -0.5 * math.pi / radial_cutoff * math.sin(math.pi * distance / radial_cutoff)
                x = 2.0 * distance / radial_cutoff - 1.0
                chebyshev_values(x, radial_order, values)
                chebyshev_slopes(x, radial_order, second, slopes)
                along = 0.0  # dE/d(distance)
                for m in range(n_radial):
                    w = weights[i, m]
                    if weighted:
                        w += weights[i, half + m] * spins[j]
                    along += w * (dfc * values[m] + fc * slopes[m] * (2.0 / radial_cutoff))
                for c in range(3):
                    gradient[j, c] += along * vectors[p, c] / distance
                    gradient[i, c] -= along * vectors[p, c] / distance
            cut[p] = 0.5 * (math.cos(distance * math.pi / angular_cutoff) + 1.0)
            cut_slope[p] = (
                -0.5 * math.pi / angular_cutoff * math.sin(math.pi * distance / angular_cutoff)
            )
        for p in range(count):
            if lengths[p] >= angular_cutoff:
                continue
            for q in range(p + 1, count):
                if lengths[q] >= angular_cutoff:
                    continue
                da, db = lengths[p], lengths[q]
                dot = (
                    vectors[p, 0] * vectors[q, 0]
                    + vectors[p, 1] * vectors[q, 1]
                    + vectors[p, 2] * vectors[q, 2]
                )
                raw = dot / (da * db)
                cosine = min(1.0, max(-1.0, raw))
                chebyshev_values(cosine, angular_order, values)
                chebyshev_slopes(cosine, angular_order, second, slopes)
                pair_spin = spins[near[p]] * spins[near[q]]
                sum_values, sum_slopes = 0.0, 0.0
                for m in range(n_angular):
                    w = weights[i, n_radial + m]
                    if weighted:
                        w += weights[i, half + n_radial + m] * pair_spin
                    sum_values += w * values[m]
                    sum_slopes += w * slopes[m]
                fa, fb = cut[p], cut[q]
                # clamp passes no gradient outside [-1, 1], as torch.clamp
                by_cosine = fa * fb * sum_slopes if -1.0 <= raw <= 1.0 else 0.0
                j, k = near[p], near[q]
                for c in range(3):
                    a, b = vectors[p, c], vectors[q, c]
                    grad_a = cut_slope[p] * fb * sum_values * a / da + by_cosine * (
                        b / (da * db) - cosine * a / (da * da)
                    )
                    grad_b = fa * cut_slope[q] * sum_values * b / db + by_cosine * (
                        a / (da * db) - cosine * b / (db * db)
                    )
                    gradient[j, c] += grad_a
                    gradient[k, c] += grad_b
                    gradient[i, c] -= grad_a + grad_b
    return gradient


@numba.njit(cache=True, error_model="numpy")
def cluster_core_repulsion(
    positions: np.ndarray,
    charges: np.ndarray,
    radii: np.ndarray,
    onset: float,
    cutoff: float,
    switch_width: float,
    coulomb: float,
    screening: float,
    coefficients: np.ndarray,
    exponents: np.ndarray,
) -> tuple[float, np.ndarray]:
    """The switched ZBL energy (eV) of the pairs closer than ``cutoff``, and its gradient
    [n, 3] (:mod:`~lightning_modules.models.repulsion`'s formulas)."""
    n = positions.shape[0]
    energy = 0.0
    gradient = np.zeros((n, 3))
    for i in range(n):
        for j in range(i + 1, n):
            dx = positions[j, 0] - positions[i, 0]
            dy = positions[j, 1] - positions[i, 1]
            dz = positions[j, 2] - positions[i, 2]
            distance = math.sqrt(dx * dx + dy * dy + dz * dz)
            bonded = radii[i] + radii[j]
            outer = onset * bonded
            if distance >= cutoff or distance >= outer:
                continue
            inner = outer - switch_width * bonded
            raw = (distance - inner) / (outer - inner)
            share = min(1.0, max(0.0, raw))
            switch = 0.5 * (math.cos(math.pi * share) + 1.0)
            switch_slope = 0.0
            if 0.0 <= raw <= 1.0:
                switch_slope = -0.5 * math.pi * math.sin(math.pi * share) / (outer - inner)
            length = screening / (charges[i] ** 0.23 + charges[j] ** 0.23)
            x = distance / length
            phi, phi_slope = 0.0, 0.0
            for c in range(coefficients.shape[0]):
                term = coefficients[c] * math.exp(-exponents[c] * x)
                phi += term
                phi_slope -= exponents[c] * term
            prefactor = coulomb * charges[i] * charges[j]
            zbl = prefactor / distance * phi
            zbl_slope = prefactor * (-phi / (distance * distance) + phi_slope / (length * distance))
            energy += zbl * switch
            along = zbl_slope * switch + zbl * switch_slope
            gradient[j, 0] += along * dx / distance
            gradient[j, 1] += along * dy / distance
            gradient[j, 2] += along * dz / distance
            gradient[i, 0] -= along * dx / distance
            gradient[i, 1] -= along * dy / distance
            gradient[i, 2] -= along * dz / distance
    return energy, gradient


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# activation name -> (f(x), f'(x)) in NumPy, the same functions as lightning_modules.models.nn
Activation = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]


def activation_pair(name: str, alpha: float = 0.0, mu: float = 0.0) -> Activation | None:
    """The activation ``name`` and its derivative as NumPy functions; None if not written here."""
    if name == "linear":
        return (lambda x: x), np.ones_like
    if name == "tanh":
        return np.tanh, lambda x: 1.0 - np.tanh(x) ** 2
    if name == "sigmoid":
        return _sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x))
    if name == "silu":
        return (lambda x: x * _sigmoid(x)), lambda x: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x)))
    if name == "shifted_softplus":
        return (
            lambda x: np.where(x > SOFTPLUS_THRESHOLD, x, np.logaddexp(0.0, x)) - math.log(2.0),
            lambda x: np.where(x > SOFTPLUS_THRESHOLD, 1.0, _sigmoid(x)),
        )
    if name == "smu":
        scale = mu * (1.0 - alpha)

        def smu(x: np.ndarray) -> np.ndarray:
            return 0.5 * ((1.0 + alpha) * x + (1.0 - alpha) * x * erf(scale * x))

        def smu_slope(x: np.ndarray) -> np.ndarray:
            bump = 2.0 / math.sqrt(math.pi) * scale * np.exp(-((scale * x) ** 2))
            return 0.5 * ((1.0 + alpha) + (1.0 - alpha) * (erf(scale * x) + x * bump))

        return smu, smu_slope
    return None


@dataclass(frozen=True)
class ElementNetwork:
    """One element's MLP as float64 arrays: (weight [out, in], bias [out]) per linear
    layer, an activation after every layer but the last."""

    layers: Sequence[tuple[np.ndarray, np.ndarray]]
    activations: Sequence[Activation]

    def value_and_gradient(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outputs [rows] and d output / d inputs [rows, n_in]."""
        pre_activations = []
        hidden = inputs
        for (weight, bias), (function, _) in zip(self.layers[:-1], self.activations, strict=True):
            pre = hidden @ weight.T + bias
            pre_activations.append(pre)
            hidden = function(pre)
        weight, bias = self.layers[-1]
        outputs = (hidden @ weight.T + bias)[:, 0]
        upstream = np.broadcast_to(weight, (inputs.shape[0], weight.shape[1]))
        for (weight, _), (_, slope), pre in zip(
            reversed(self.layers[:-1]),
            reversed(self.activations),
            reversed(pre_activations),
            strict=True,
        ):
            upstream = (upstream * slope(pre)) @ weight
        return outputs, upstream


@dataclass(frozen=True)
class AenetClusterModel:
    """A trained ænet potential fixed to one structure's atoms (order and elements).

    Per atom: ``spins`` (type spin), ``feature_shift``/``feature_scale``
    (normalisation rows), ``reference`` (element energy); ``rows`` the atoms of
    each element network in ``networks``. ``repulsion``: (onset, covalent radius
    per atom) or None. Energy, as :class:`~lightning_modules.models.potential.Potential`:
    ``energy_scale * sum_i y_i + energy_shift * n + sum_i reference_i + E_core``.
    """

    spins: np.ndarray
    charges: np.ndarray
    radial_cutoff: float
    radial_order: int
    angular_cutoff: float
    angular_order: int
    weighted: bool
    feature_shift: np.ndarray
    feature_scale: np.ndarray
    networks: Sequence[ElementNetwork]
    rows: Sequence[np.ndarray]
    energy_scale: float
    energy_shift: float
    reference: float
    repulsion: tuple[float, np.ndarray] | None

    def energy_forces(self, positions: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy (eV) and forces [n, 3] (eV/A) at ``positions`` [n, 3] (Angstrom)."""
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        settings = (
            self.radial_cutoff,
            self.radial_order,
            self.angular_cutoff,
            self.angular_order,
            self.weighted,
        )
        features = cluster_descriptors(positions, self.spins, *settings)
        normalised = (features - self.feature_shift) * self.feature_scale
        residual = 0.0
        by_features = np.zeros_like(features)
        for network, rows in zip(self.networks, self.rows, strict=True):
            if rows.size:
                outputs, slopes = network.value_and_gradient(normalised[rows])
                residual += float(outputs.sum())
                by_features[rows] = slopes
        by_features *= self.feature_scale * self.energy_scale
        gradient = cluster_descriptor_gradient(positions, self.spins, *settings, by_features)
        energy = residual * self.energy_scale + self.energy_shift * len(positions) + self.reference
        if self.repulsion is not None:
            onset, radii = self.repulsion
            cutoff = max(self.radial_cutoff, self.angular_cutoff)
            core, core_gradient = cluster_core_repulsion(
                positions,
                self.charges,
                radii,
                onset,
                cutoff,
                SWITCH_WIDTH,
                COULOMB_EV_ANGSTROM,
                ZBL_LENGTH,
                *ZBL_TERMS,
            )
            energy += core
            gradient += core_gradient
        return energy, -gradient

    def energies_forces(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energies (r,) and forces (r, n, 3) of (r, n, 3) positions, one structure at a time."""
        results = [self.energy_forces(replica) for replica in positions]
        return np.array([e for e, _ in results]), np.array([f for _, f in results])
