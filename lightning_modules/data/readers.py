"""Reading atomistic data sets (positions, energies, forces) into one :class:`AtomsData`.

Readers:

* the seed ``.npz`` format (``R`` positions in Angstrom, ``E`` energies, ``z``
  atomic numbers, optional ``F`` forces) with the energy unit declared by
  the caller (the SeB_n files are Hartree);
* ænet's XSF flavour (a file, a directory or a .tar.gz of them;
  :mod:`lightning_modules.data.xsf`);
* everything ``ase.io`` reads with energies (extxyz, ASE db, trajectories, ...).

:func:`load_data` reads one or more files and validates them
(:mod:`lightning_modules.data.checks`): problems that make training
meaningless raise :class:`DataError` (one line naming the problem and the
fix); suspicious but usable data warn with :class:`DataWarning`.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.data.atoms import AtomsData, DataError, concatenate, energy_unit_factor
from lightning_modules.data.checks import check_units_agree, validate_data, warn_duplicates

if TYPE_CHECKING:
    from ase import Atoms

logger = logging.getLogger(__name__)


def read_npz(path: str | Path, energy_unit: str = DEFAULT_ENERGY_UNIT) -> AtomsData:
    """Read the seed npz format: ``R`` [n, atoms, 3] Angstrom, ``E`` [n] or [n, 1], ``z``, ``F``.

    ``z`` is [atoms] (shared by all structures) or [n, atoms]; energies and
    forces are in ``energy_unit`` (forces per Angstrom) and converted to eV.
    """
    path = Path(path)
    factor = energy_unit_factor(energy_unit)
    with np.load(path) as archive:
        missing = [key for key in ("R", "E", "z") if key not in archive.files]
        if missing:
            raise DataError(
                f"{path}: missing array(s) {', '.join(missing)}; the npz format needs R "
                f"(positions, Angstrom), E (energies) and z (atomic numbers), found "
                f"{', '.join(archive.files) or 'none'}"
            )
        positions = np.asarray(archive["R"], dtype=np.float64)
        energy = np.asarray(archive["E"], dtype=np.float64)
        numbers = np.asarray(archive["z"])
        forces = np.asarray(archive["F"], dtype=np.float64) if "F" in archive.files else None
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise DataError(
            f"{path}: R has shape {positions.shape}; expected (n_structures, n_atoms, 3)"
        )
    n_structures, n_atoms, _ = positions.shape
    if n_structures == 0 or n_atoms == 0:
        raise DataError(f"{path}: the file holds no structures (R has shape {positions.shape})")
    if energy.shape not in ((n_structures,), (n_structures, 1)):
        raise DataError(
            f"{path}: E has shape {energy.shape} but R holds {n_structures} structures; "
            f"expected ({n_structures},) or ({n_structures}, 1)"
        )
    if numbers.shape == (n_atoms,):
        numbers = np.tile(numbers, n_structures)
    elif numbers.shape == (n_structures, n_atoms):
        numbers = numbers.reshape(-1)
    else:
        raise DataError(
            f"{path}: z has shape {numbers.shape}; expected ({n_atoms},) or "
            f"({n_structures}, {n_atoms}) to match R {positions.shape}"
        )
    if not np.all(np.isfinite(numbers)) or not np.all(np.equal(np.mod(numbers, 1), 0)):
        raise DataError(f"{path}: z holds non-integer atomic numbers")
    if forces is not None and forces.shape != positions.shape:
        raise DataError(f"{path}: F has shape {forces.shape}; expected {positions.shape} like R")
    total_atoms = n_structures * n_atoms
    return AtomsData(
        numbers=numbers.astype(np.int64),
        positions=positions.reshape(total_atoms, 3),
        n_atoms=np.full(n_structures, n_atoms, dtype=np.int64),
        energy=energy.reshape(n_structures) * factor,
        forces=(
            forces.reshape(total_atoms, 3) * factor
            if forces is not None
            else np.zeros((total_atoms, 3))
        ),
        has_forces=np.full(n_structures, forces is not None),
        cell=np.zeros((n_structures, 3, 3)),
        pbc=np.zeros((n_structures, 3), dtype=bool),
        source=np.zeros(n_structures, dtype=np.int64),
        sources=(str(path),),
    )


def read_frames(
    path: str | Path,
    what: str = "",
    index: int | str = ":",
    hint: str = "give a file ASE reads (extxyz, traj, xyz)",
) -> list[Atoms]:
    """Frames ``index`` of a file ASE reads, as a list.

    A missing, unreadable or empty file is a one-line :class:`DataError` that
    names the file (after ``what``, e.g. "--trajectory") and ends with ``hint``.
    """
    import ase.io

    path = Path(path)
    name = f"{what} {path}".strip()
    if not path.is_file():
        raise DataError(f"{name}: no such file; {hint}")
    try:
        frames = ase.io.read(path, index=index)
    except Exception as error:  # ASE raises many kinds for a file it cannot parse
        detail = str(error).splitlines()[0] if str(error) else "no detail"
        raise DataError(
            f"{name}: ASE cannot read it ({type(error).__name__}: {detail}); {hint}"
        ) from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise DataError(f"{name} holds no frames; {hint}")
    return frames


def read_ase(path: str | Path, energy_unit: str = DEFAULT_ENERGY_UNIT) -> AtomsData:
    """Read any format ``ase.io`` reads with energies (extxyz, ASE db, ...); forces if stored."""
    path = Path(path)
    factor = energy_unit_factor(energy_unit)
    frames = read_frames(path, hint="check the file format")
    energies, forces, has_forces = [], [], []
    for index, atoms in enumerate(frames):
        if atoms.calc is None:
            raise DataError(
                f"{path}: structure {index} has no energy; store energies "
                f"(e.g. extxyz with energy=... in the comment line)"
            )
        try:
            energies.append(atoms.get_potential_energy())
        except Exception as error:
            raise DataError(f"{path}: structure {index} has no energy ({error})") from error
        try:
            forces.append(np.asarray(atoms.get_forces(), dtype=np.float64))
            has_forces.append(True)
        except Exception:  # ase raises PropertyNotImplementedError or others when absent
            forces.append(np.zeros((len(atoms), 3)))
            has_forces.append(False)
    n = len(frames)
    return AtomsData(
        numbers=np.concatenate([a.numbers for a in frames]).astype(np.int64),
        positions=np.concatenate([a.positions for a in frames]).astype(np.float64),
        n_atoms=np.array([len(a) for a in frames], dtype=np.int64),
        energy=np.asarray(energies, dtype=np.float64) * factor,
        forces=np.concatenate(forces) * factor,
        has_forces=np.asarray(has_forces),
        cell=np.stack([np.asarray(a.cell.array, dtype=np.float64) for a in frames]),
        pbc=np.stack([np.asarray(a.pbc, dtype=bool) for a in frames]),
        source=np.zeros(n, dtype=np.int64),
        sources=(str(path),),
    )


def read_data(path: str | Path, energy_unit: str = DEFAULT_ENERGY_UNIT) -> AtomsData:
    """Read one data file by its suffix (``.npz``, ænet XSF/dir/.tar.gz, or an ``ase.io`` format)."""
    path = Path(path).expanduser()  # ~ in a config file too (pesweep datasets puts data there)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path (relative to {Path.cwd()})")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    from lightning_modules.data.xsf import is_xsf_source, read_xsf  # xsf builds on this module

    try:
        return _read_by_suffix(path, energy_unit, is_xsf_source, read_xsf)
    except OSError as error:  # a folder named like a file, no permission, a read error
        raise DataError(
            f"{error.filename or path}: cannot be read ({error.strerror or error}); "
            f"check that it is a readable data file"
        ) from error


def _read_by_suffix(path: Path, energy_unit: str, is_xsf_source: Any, read_xsf: Any) -> AtomsData:
    if is_xsf_source(path):
        return read_xsf(path, energy_unit)
    if path.suffix == ".npz":
        if path.is_file() and not zipfile.is_zipfile(path):
            raise DataError(
                f"{path}: not an npz file (an npz file is a zip archive of numpy arrays); check "
                f"the file, or give it the suffix of its real format"
            )
        try:
            return read_npz(path, energy_unit)
        except (OSError, ValueError) as error:
            if isinstance(error, DataError):
                raise
            if "pickle" in str(error):
                raise DataError(
                    f"{path}: holds object arrays (pickled data), which pesweep never "
                    f"loads; save R, E, z and F as numeric arrays"
                ) from error
            raise DataError(f"{path}: not a readable npz file ({error})") from error
    return read_ase(path, energy_unit)


def load_data(
    paths: str | Path | Sequence[str | Path],
    energy_unit: str = DEFAULT_ENERGY_UNIT,
    validate: bool = True,
) -> AtomsData:
    """Read and validate one or more data files into one :class:`AtomsData` (eV, Angstrom)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    parts = []
    for path in paths:
        part = read_data(path, energy_unit)
        if validate:
            validate_data(part, energy_unit=energy_unit)
        parts.append(part)
    if validate and len(parts) > 1:
        check_units_agree(parts)
    data = concatenate(parts)
    if validate and len(parts) > 1:
        warn_duplicates(data)
    return data
