"""`pesweep label`: frames of a trajectory labelled by a real calculator, as a user runs it."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.cluster import Icosahedron

from hpo.cli.main import main


def model_trajectory(count: int) -> list[Atoms]:
    """Frames of a Cu13 cluster carrying a "model's" forces: EMT's plus a known error."""
    frames = []
    rng = np.random.default_rng(0)
    for index in range(count):
        atoms = Icosahedron("Cu", 2)
        atoms.rattle(0.05, seed=index)
        atoms.calc = EMT()
        forces = atoms.get_forces() + rng.choice([-0.5, 0.5], size=(len(atoms), 3))
        frame = atoms.copy()
        frame.calc = SinglePointCalculator(frame, energy=0.0, forces=forces)
        frame.info["time_ps"] = 0.01 * index
        frames.append(frame)
    return frames


def test_label_writes_spread_frames_with_the_calculator_s_labels(tmp_path, capsys) -> None:
    trajectory = tmp_path / "trajectory.extxyz"
    ase.io.write(trajectory, model_trajectory(9), format="extxyz")
    out = tmp_path / "new.extxyz"
    code = main(
        ["label", "--trajectory", str(trajectory), "--calculator", "emt", "--frames", "3"]
        + ["--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0 and "3 frames of 9 labelled with emt" in printed
    # the known error of the "model's" forces: every component off by 0.5 eV/A
    assert "RMSE median 0.500 eV/A, max 0.500" in printed
    labelled = ase.io.read(out, index=":")
    assert [frame.info["frame"] for frame in labelled] == [0, 4, 8]
    assert [frame.info["time_ps"] for frame in labelled] == pytest.approx([0.0, 0.04, 0.08])
    source = ase.io.read(trajectory, index=":")
    for frame in labelled:
        direct = source[frame.info["frame"]].copy()
        direct.calc = EMT()
        assert frame.get_potential_energy() == pytest.approx(direct.get_potential_energy())
        assert np.allclose(frame.get_forces(), direct.get_forces(), atol=1e-6)
    # nothing the user made is replaced without --force
    again = main(
        ["label", "--trajectory", str(trajectory), "--calculator", "emt", "--out", str(out)]
    )
    assert again == 2 and "--force" in capsys.readouterr().err


def test_label_refuses_bad_input_before_writing(tmp_path, capsys) -> None:
    selenium = tmp_path / "se.extxyz"
    ase.io.write(selenium, Atoms("Se2", positions=[[0, 0, 0], [2.2, 0, 0]]), format="extxyz")
    broken = tmp_path / "broken.extxyz"
    broken.write_text("not a trajectory\n")
    cases = {
        "EMT has no parameters for Se": ["--trajectory", str(selenium), "--calculator", "emt"],
        "no such file": ["--trajectory", str(tmp_path / "absent.extxyz"), "--calculator", "emt"],
        "ASE cannot read it": ["--trajectory", str(broken), "--calculator", "emt"],
    }
    for expected, arguments in cases.items():
        code = main(["label", *arguments, "--out", str(tmp_path / "new.extxyz")])
        err = capsys.readouterr().err
        assert code == 2 and expected in err.strip().splitlines()[-1], err
    assert not (tmp_path / "new.extxyz").exists()
