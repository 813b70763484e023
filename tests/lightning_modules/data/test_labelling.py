"""New labels from a real calculator: EMT and GFN1-xTB (tblite)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron

from lightning_modules.data.isolated_atoms import ReferencesError
from lightning_modules.data.labelling import label_frames


def test_emt_labels_are_emt_s_and_the_frames_are_copies() -> None:
    frames = [Icosahedron("Cu", 2), Icosahedron("Au", 2)]
    frames[1].rattle(0.05, seed=1)
    labelled = label_frames(frames, "emt")
    for frame, label in zip(frames, labelled, strict=True):
        direct = frame.copy()
        direct.calc = EMT()
        assert label.get_potential_energy() == pytest.approx(direct.get_potential_energy())
        assert np.allclose(label.get_forces(), direct.get_forces())
        assert frame.calc is None  # the caller's frames are left as they were


def test_an_element_the_calculator_lacks_is_refused_before_any_label() -> None:
    with pytest.raises(ReferencesError, match="EMT has no parameters for Se"):
        label_frames(
            [Icosahedron("Cu", 2), Atoms("Se2", positions=[[0, 0, 0], [2.2, 0, 0]])], "emt"
        )
    with pytest.raises(ReferencesError, match="unknown calculator 'dft'"):
        label_frames([Icosahedron("Cu", 2)], "dft")


def test_gfn1_xtb_labels_a_water_molecule() -> None:
    pytest.importorskip("tblite")
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    [label] = label_frames([water], "gfn1-xtb")
    forces = label.get_forces()
    assert np.isfinite(label.get_potential_energy()) and np.abs(forces.sum(axis=0)).max() < 1e-6
