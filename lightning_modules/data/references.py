"""Per-element reference energies and the standardisation of the residual energy.

Total energies of all-electron calculations are huge (SeB20: about -78,000 eV)
while the differences a potential must learn are a few eV. We fit one
reference energy per element on the training split (least squares on the
composition), and the network learns the standardised residual per atom:

    E = sum_i (scale * y_i + shift + E_ref[Z_i])

with ``shift``/``scale`` the mean and standard deviation of the residual
energy per atom on the training split.

The references are identifiable only when the compositions of the training
split span the elements: the composition matrix needs rank = number of
elements. Data of one composition (SeB20, one Cu7Au6 cluster with water)
determine a single combination of the references, and the absolute energy
of any other composition is then arbitrary (:func:`undetermined_elements`
says which). Isolated-atom energies from a real calculator
(``pesweep references``) fix them; fine-tuning refits only the directions
its data determine (:func:`refit_energy_reference`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase.data import chemical_symbols

from lightning_modules.data.atoms import AtomsData

FITTED, GIVEN, REFITTED = "fitted", "given", "refitted"


@dataclass(frozen=True)
class EnergyReference:
    """Element reference energies (eV, keyed by atomic number) and residual shift/scale (eV/atom).

    ``origin`` says per element how its value was obtained (``fitted`` on the
    training split, ``given`` by the user, ``refitted`` from the pretrained
    model ``parent`` when fine-tuning); ``source`` names a given file.
    """

    element_energy: dict[int, float]
    shift: float
    scale: float
    origin: dict[int, str] = field(default_factory=dict)
    parent: str = ""
    source: str = ""

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
            "origin": {str(z): how for z, how in self.origin.items()},
            "parent": self.parent,
            "source": self.source,
        }

    def describe(self) -> list[str]:
        """One line per element: symbol, energy (eV) and how it was obtained."""
        lines = []
        for z in sorted(self.element_energy):
            how = self.origin.get(z, "unrecorded")
            if how == REFITTED and self.parent:
                how = f"refitted from {self.parent}"
            elif how == GIVEN and self.source:
                how = f"given ({self.source})"
            lines.append(f"{chemical_symbols[z]:>3s} {self.element_energy[z]:16.6f} eV  {how}")
        return lines

    def summary(self) -> str:
        """:meth:`describe` on one line (an MLflow tag)."""
        return "; ".join(" ".join(line.split()) for line in self.describe())

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> EnergyReference:
        element_energy = values["element_energy"]
        assert isinstance(element_energy, dict)
        origin = values.get("origin") or {}
        assert isinstance(origin, dict)
        return cls(
            element_energy={int(z): float(e) for z, e in element_energy.items()},
            shift=float(values["shift"]),  # type: ignore[arg-type]
            scale=float(values["scale"]),  # type: ignore[arg-type]
            origin={int(z): str(how) for z, how in origin.items()},
            parent=str(values.get("parent", "")),
            source=str(values.get("source", "")),
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


def undetermined_elements(data: AtomsData, given: dict[int, float] | None = None) -> list[int]:
    """Elements whose reference the compositions of ``data`` cannot determine (besides ``given``).

    An element is determined when its unit vector is orthogonal to the null
    space of the composition matrix: no change of the references that leaves
    every energy of ``data`` the same moves it. One composition: all of them.
    """
    free = [z for z in data.elements() if z not in (given or {})]
    if not free or len(data) == 0:
        return []
    counts = composition_matrix(data, free)
    _, singular, right = np.linalg.svd(counts, full_matrices=True)
    rank = int((singular > singular.max() * max(counts.shape) * 1e-12).sum())
    null_space = right[rank:]  # [n_free - rank, n_free]
    moved = np.abs(null_space).max(axis=0, initial=0.0) > 1e-8
    return [z for z, undetermined in zip(free, moved, strict=True) if undetermined]


def undetermined_message(
    data: AtomsData, given: dict[int, float] | None = None, what: str = "the training data"
) -> str | None:
    """A one-line warning naming the elements ``data`` cannot reference, or None when it can."""
    missing = undetermined_elements(data, given)
    if not missing:
        return None
    formulas = sorted(set(data.formulas()))
    shown = ", ".join(formulas[:3]) + (" ..." if len(formulas) > 3 else "")
    return (
        f"the compositions of {what} ({shown}) cannot determine the reference "
        f"energies of {', '.join(chemical_symbols[z] for z in missing)}: energies of other "
        f"compositions will be wrong unless references are given (element_energies; "
        f"`pesweep references` computes isolated-atom energies)"
    )


def fit_energy_reference(data: AtomsData, given: dict[int, float] | None = None) -> EnergyReference:
    """Least-squares element energies on ``data`` (the training split) and residual statistics.

    With a single composition the system is rank-deficient; the minimum-norm
    solution is taken, which still removes the mean energy exactly (and
    :func:`undetermined_elements` names what it could not determine). Elements
    in ``given`` (eV, e.g. isolated-atom energies) keep their value and only
    the others are fitted.
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
        origin={z: GIVEN if z in given else FITTED for z in reference.element_energy},
    )


def refit_energy_reference(
    data: AtomsData,
    residual: np.ndarray,
    prior: EnergyReference,
    given: dict[int, float] | None = None,
    parent: str = "",
) -> EnergyReference:
    """The references of a fine-tuned model: ``prior`` changed only where ``data`` determine them.

    ``residual`` [n_structures] eV is reference minus the pretrained model's
    prediction on ``data`` (the target's training split). The change d is the
    minimum-norm least-squares solution of C d = residual: it lies in the row
    space of the composition matrix C, so the combinations of references the
    target data cannot see keep their pretrained values, and the pretrained
    model's energies of other compositions move only by what the target
    identifies. ``given`` elements take their given value. Shift and scale
    (the network's output statistics) are the prior's.
    """
    given = {z: e for z, e in (given or {}).items() if z in data.elements()}
    element_energy = {**prior.element_energy, **given}
    residual = np.asarray(residual, dtype=float).copy()
    given_change = EnergyReference(
        {z: e - prior.element_energy.get(z, 0.0) for z, e in given.items()}, 0.0, 1.0
    )
    residual -= given_change.reference_energy(data)
    free = [z for z in data.elements() if z not in given]
    if free:
        change, *_ = np.linalg.lstsq(composition_matrix(data, free), residual, rcond=None)
        for z, delta in zip(free, change, strict=True):
            element_energy[z] = element_energy.get(z, 0.0) + float(delta)
    origin = {z: prior.origin.get(z, FITTED) for z in element_energy}
    origin.update({z: REFITTED for z in free})
    origin.update({z: GIVEN for z in given})
    return EnergyReference(
        element_energy=element_energy,
        shift=prior.shift,
        scale=prior.scale,
        origin=origin,
        parent=parent,
        source=prior.source,
    )
