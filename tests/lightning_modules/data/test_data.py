"""Readers and validation: units, shapes, bad values, mislabelled files, duplicates."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from lightning_modules.conventions import HARTREE_IN_EV
from lightning_modules.data import (
    DataError,
    DataWarning,
    formula_from_path,
    load_data,
    read_npz,
)
from tests.support.data import shared_file


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def cluster_arrays(n: int = 4, atoms: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    base = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.0, 1.5, 0.0]])[:atoms]
    positions = base[None] + rng.normal(0, 0.05, size=(n, atoms, 3))
    return {
        "R": positions,
        "E": rng.normal(-10.0, 0.1, size=(n, 1)),
        "z": np.array([29, 29, 79])[:atoms],
    }


def test_hartree_file_is_converted_to_ev() -> None:
    path = shared_file("seb_clusters/Bn/B=16.npz")
    raw = np.load(path)["E"][:, 0]
    data = read_npz(path, "hartree")
    np.testing.assert_allclose(data.energy, raw * HARTREE_IN_EV)
    assert data.positions.dtype == np.float64
    assert len(data) == raw.shape[0]
    assert data.n_atoms[0] == 16


def test_mislabelled_file_warns_with_the_real_formula() -> None:
    path = shared_file("seb_clusters/SeBn-O/B=21.npz")
    with pytest.warns(DataWarning, match=r"says SeB21 but z holds B22Se \(23 atoms\)"):
        load_data(path, "hartree")


def test_correctly_named_file_does_not_warn() -> None:
    path = shared_file("seb_clusters/SeBn/B=19.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        data = load_data(path, "hartree")
    assert data.formula(0) == "B19Se"


def test_hartree_read_as_ev_warns() -> None:
    path = shared_file("seb_clusters/SeBn/B=17.npz")
    with pytest.warns(DataWarning, match="look like Hartree read as ev"):
        load_data(path, "ev")


def test_identical_files_warn_about_duplicates() -> None:
    first = shared_file("seb_clusters/SeBn-O/B=22.npz")
    second = shared_file("seb_clusters/SeBn-O/B=23.npz")
    with pytest.warns(DataWarning, match="800 of 1600 structures duplicate"):
        load_data([first, second], "hartree")


def test_extxyz_with_forces(emt_data) -> None:
    assert len(emt_data) == 120
    assert emt_data.has_forces.all()
    assert emt_data.forces.shape == emt_data.positions.shape
    assert set(emt_data.elements()) <= {29, 79}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(E=a["E"][:2]), "E has shape"),
        (lambda a: a.update(R=a["R"][..., :2]), "R has shape"),
        (lambda a: a.update(z=np.array([29, 29])), "z has shape"),
        (lambda a: a["E"].__setitem__((1, 0), np.nan), "energies are NaN or inf"),
        (lambda a: a["R"].__setitem__((0, 0, 0), np.inf), "positions are NaN or inf"),
        (lambda a: a.update(z=np.array([29, 0, 79])), "outside 1..118"),
        (lambda a: a.update(z=np.array([29, 200, 79])), "outside 1..118"),
        (lambda a: a["R"].__setitem__((2, 1), a["R"][2, 0] + 0.1), "closer than 0.3 A"),
        (lambda a: a.update(F=np.zeros((4, 2, 3))), "F has shape"),
        (lambda a: a.pop("z"), "missing array"),
    ],
)
def test_bad_npz_raises_one_clear_error(tmp_path: Path, change, message: str) -> None:
    arrays = cluster_arrays()
    change(arrays)
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_data(path)


def test_a_text_file_named_npz_is_not_an_npz_file(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    path.write_text("1 2 3\n4 5 6\n")
    with pytest.raises(DataError) as caught:
        load_data(path)
    assert str(caught.value) == (
        f"{path}: not an npz file (an npz file is a zip archive of "
        f"numpy arrays); check the file, or give it the suffix of its "
        f"real format"
    )
    assert "pickle" not in str(caught.value)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xyz"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_data(empty)
    with pytest.raises(DataError, match="no such file"):
        load_data(tmp_path / "absent.npz")
    no_structures = write_npz(
        tmp_path / "none.npz", R=np.zeros((0, 3, 3)), E=np.zeros(0), z=np.array([1, 1, 1])
    )
    with pytest.raises(DataError, match="no structures"):
        load_data(no_structures)


def test_duplicates_inside_one_file_warn(tmp_path: Path) -> None:
    arrays = cluster_arrays()
    arrays["R"][3] = arrays["R"][0]
    path = write_npz(tmp_path / "dup.npz", **arrays)
    with pytest.warns(DataWarning, match="1 of 4 structures duplicate"):
        load_data(path)


@pytest.mark.parametrize(
    ("path", "formula"),
    [
        ("SeBn/B=20.npz", "SeB20"),
        ("Bn/B=17.npz", "B17"),
        ("SeBn-O/B=21.npz", "SeB21"),
        ("runs/Cu13.xyz", "Cu13"),
        ("train.npz", None),
        ("AlCn/C=20.npz", "AlC20"),  # not Al + Cn (copernicium)
        ("SnCn/C=4.npz", "SnC4"),  # tin, and the n on C
        ("CuSnn/Sn=3.npz", "CuSn3"),
        ("AuCun-H2O/Cu=7.npz", "AuCu7"),
        ("data/B=5.npz", None),  # the folder is no formula: no claim
    ],
)
def test_formula_from_path(path: str, formula: str | None) -> None:
    assert formula_from_path(path) == formula


@pytest.mark.parametrize(
    ("folder", "numbers", "warns"),
    [
        ("AlCn", [13] + [6] * 20, False),
        ("AlCn", [13] + [6] * 21, True),  # the file says C20, z holds C21
        ("SnCn", [50] + [6] * 20, False),
        ("SnCn", [16] + [6] * 20, True),  # tin claimed, sulphur held
    ],
)
def test_file_names_of_any_formula_warn_only_when_they_disagree(
    tmp_path, folder: str, numbers: list[int], warns: bool
) -> None:
    path = tmp_path / folder / "C=20.npz"
    path.parent.mkdir()
    positions = np.random.default_rng(0).normal(scale=3.0, size=(3, len(numbers), 3))
    write_npz(path, R=positions, E=-np.arange(3.0)[:, None], z=np.array(numbers))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_data(path)
    said = [str(w.message) for w in caught if "the file name says" in str(w.message)]
    assert bool(said) == warns, said


def test_read_frames_names_the_file_in_one_line(tmp_path) -> None:
    """Missing, unparseable and empty files: one line naming what and where, and the hint."""
    from lightning_modules.data.readers import read_frames

    broken = tmp_path / "broken.extxyz"
    broken.write_text("3\nnot a comment line\nXx 0 0\n")
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    for path, problem in (
        (tmp_path / "absent.extxyz", "no such file"),
        (broken, "ASE cannot read it"),
        (empty, "ASE cannot read it|holds no frames"),
    ):
        with pytest.raises(DataError, match=problem) as caught:
            read_frames(path, "--trajectory", hint="give an extxyz")
        message = str(caught.value)
        assert message.startswith(f"--trajectory {path}") and message.endswith("give an extxyz")
        assert "\n" not in message
