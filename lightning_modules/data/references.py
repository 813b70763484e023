"""Per-element reference energies and the standardisation of the residual energy.

Total energies of all-electron calculations are huge (SeB20: about -78,000 eV)
while the differences a potential must learn are a few eV. We fit one
reference energy per element on the training split (least squares on the
composition), and the network learns the standardised residual per atom:

    E = sum_i (scale * y_i + shift + E_ref[Z_i])

with ``shift``/``scale`` the mean and standard deviation of the residual
energy per atom on the training split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lightning_modules.data.atoms import AtomsData


@dataclass(frozen=True)
class EnergyReference:
    """Element reference energies (eV, keyed by atomic number) and residual shift/scale (eV/atom)."""

    element_energy: dict[int, float]
    shift: float
    scale: float

    def reference_energy(self, data: AtomsData) -> np.ndarray:
        """Sum of element reference energies per structure, [n_structures] eV."""
        per_atom = np.array([self.element_energy.get(int(z), 0.0) for z in data.numbers])
        structure_index = np.repeat(np.arange(len(data)), data.n_atoms)
        return np.bincount(structure_index, weights=per_atom, minlength=len(data))

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form, for checkpoints and MLflow."""
        return {
            "element_energy": {str(z): e for z, e in self.element_energy.items()},
            "shift": self.shift,
            "scale": self.scale,
        }

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> EnergyReference:
        element_energy = values["element_energy"]
        assert isinstance(element_energy, dict)
        return cls(
            element_energy={int(z): float(e) for z, e in element_energy.items()},
            shift=float(values["shift"]),  # type: ignore[arg-type]
            scale=float(values["scale"]),  # type: ignore[arg-type]
        )


def composition_matrix(data: AtomsData, elements: list[int]) -> np.ndarray:
    """Counts of each element per structure, [n_structures, n_elements]."""
    structure_index = np.repeat(np.arange(len(data)), data.n_atoms)
    counts = np.zeros((len(data), len(elements)))
    for column, z in enumerate(elements):
        counts[:, column] = np.bincount(
            structure_index, weights=(data.numbers == z).astype(float), minlength=len(data)
        )
    return counts


def fit_energy_reference(data: AtomsData, given: dict[int, float] | None = None) -> EnergyReference:
    """Least-squares element energies on ``data`` (the training split) and residual statistics.

    With a single composition the system is rank-deficient; the minimum-norm
    solution is taken, which still removes the mean energy exactly. Elements
    in ``given`` (eV, e.g. ænet's free-atom energies) keep their value and
    only the others are fitted.
    """
    given = dict(given or {})
    elements = data.elements()
    free = [z for z in elements if z not in given]
    fixed_energy = EnergyReference(given, 0.0, 1.0).reference_energy(data)
    solution = np.zeros(0)
    if free:
        counts = composition_matrix(data, free)
        solution, *_ = np.linalg.lstsq(counts, data.energy - fixed_energy, rcond=None)
    reference = EnergyReference(
        element_energy={
            **{z: float(e) for z, e in zip(free, solution, strict=False)},
            **{z: float(e) for z, e in given.items() if z in elements},
        },
        shift=0.0,
        scale=1.0,
    )
    residual_per_atom = (data.energy - reference.reference_energy(data)) / data.n_atoms
    scale = float(residual_per_atom.std())
    return EnergyReference(
        element_energy=reference.element_energy,
        shift=float(residual_per_atom.mean()),
        scale=scale if scale > 1e-8 else 1.0,
    )
