"""ænet XSF reading: the real TiO2 archive, and clear errors for broken files."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest

from lightning_modules.data import DataError, load_data
from tests.support.data import shared_file

GOOD = """# total energy = -100.5 eV

CRYSTAL
PRIMVEC
  4.0 0.0 0.0
  0.0 4.0 0.0
  0.0 0.0 4.0
PRIMCOORD
2 1
Ti 0.0 0.0 0.0 0.1 0.2 0.3
O  1.9 0.0 0.0 -0.1 -0.2 -0.3
"""


def test_reads_file_directory_and_archive(tmp_path) -> None:
    (tmp_path / "dir").mkdir()
    for k in range(3):
        (tmp_path / "dir" / f"s{k}.xsf").write_text(GOOD.replace("-100.5", f"-10{k}.5"))
    single = load_data(tmp_path / "dir" / "s0.xsf")
    assert single.energy.tolist() == [-100.5]
    np.testing.assert_array_equal(single.forces[1], [-0.1, -0.2, -0.3])
    assert single.pbc.all() and single.cell[0, 0, 0] == 4.0
    folder = load_data(tmp_path / "dir")
    assert folder.energy.tolist() == [-100.5, -101.5, -102.5]
    with tarfile.open(tmp_path / "set.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "dir", arcname="dir")
    packed = load_data(tmp_path / "set.tar.gz")
    np.testing.assert_array_equal(packed.energy, folder.energy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("# total energy = -100.5 eV\n", ""), "no '# total energy = X eV'"),
        (lambda t: t.replace(" 0.1 0.2 0.3", ""), "missing force columns"),
        (lambda t: t.replace("2 1", "3 1"), "header says 3 atoms but 2 follow"),
        (lambda t: t.replace("Ti ", "Xx "), "unknown element 'Xx'"),
        (
            lambda t: t.replace("Ti 0.0 0.0", "Ti 0.0 zero"),
            r"bad.xsf, line 10: atom 1's position '0.0 zero 0.0' is not numeric; fix the file",
        ),
        (
            lambda t: t.replace("0.0 4.0 0.0", "0.0 4.O 0.0"),
            r"bad.xsf, line 6: lattice vector '0.0 4.O 0.0' is not numeric; fix the file",
        ),
        (
            lambda t: t.replace("-0.2 -0.3", "-0.2 nanx"),
            r"bad.xsf, line 11: atom 2's force '-0.1 -0.2 nanx' is not numeric",
        ),
    ],
)
def test_broken_xsf_is_one_clear_error(tmp_path, change, message) -> None:
    path = tmp_path / "bad.xsf"
    path.write_text(change(GOOD))
    with pytest.raises(DataError, match=message) as caught:
        load_data(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_tio2_archive_in_place() -> None:
    data = load_data(shared_file("tio2_aenet/dir_xsf.tar.gz"))
    assert len(data) == 1000
    assert int(data.n_atoms.sum()) == 21285
    assert data.has_forces.all() and data.pbc.all()
    assert data.elements() == [8, 22]
    assert data.n_atoms.min() == 6 and data.n_atoms.max() == 95
