"""Reader of XSF files as ænet writes them (energies in a comment line, forces in columns 5-7).

    # total energy = -19960.66173260 eV
    CRYSTAL                     (periodic; ATOMS instead for isolated structures)
    PRIMVEC
      a1x a1y a1z               (Angstrom)
      ...
    PRIMCOORD
    N 1
    Ti x y z fx fy fz           (Angstrom, eV/Angstrom)

``ase.io`` ignores the energy comment and rescales the force columns, so
this is a small dedicated reader. A single file, a directory of ``*.xsf`` or
a ``.tar.gz`` archive of them are accepted (sorted by name).
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers

from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.data.atoms import AtomsData, DataError, concatenate, energy_unit_factor

_ENERGY = re.compile(r"#\s*total\s+energy\s*=\s*([-+0-9.eEdD]+)\s*(\S*)", re.IGNORECASE)


def _floats(fields: list[str], origin: str, line: int, what: str) -> list[float]:
    try:
        return [float(x.replace("d", "e").replace("D", "e")) for x in fields]
    except ValueError:
        raise DataError(
            f"{origin}, line {line}: {what} {' '.join(fields)!r} is not numeric; fix the file"
        ) from None


def parse_xsf(text: str, origin: str) -> dict[str, np.ndarray | float | bool]:
    """One structure from XSF text; a :class:`DataError` names the file, the line and the problem."""
    lines = [line.strip() for line in text.splitlines()]
    energy = None
    for number, line in enumerate(lines, start=1):
        match = _ENERGY.match(line)
        if match:
            energy = _floats([match.group(1)], origin, number, "the total energy")[0]
            break
    if energy is None:
        raise DataError(f"{origin}: no '# total energy = X eV' line; ænet XSF files need one")
    # (line number, text) of the lines that are not comments
    content = [
        (n, line) for n, line in enumerate(lines, start=1) if line and not line.startswith("#")
    ]
    keywords = [line.split()[0].upper() for _, line in content]
    periodic = "CRYSTAL" in keywords
    cell = np.zeros((3, 3))
    if periodic:
        if "PRIMVEC" not in keywords:
            raise DataError(f"{origin}: CRYSTAL without PRIMVEC (the cell)")
        start = keywords.index("PRIMVEC") + 1
        rows = content[start : start + 3]
        if len(rows) < 3:
            raise DataError(f"{origin}: PRIMVEC needs three lattice vectors")
        cell = np.array(
            [_floats(line.split()[:3], origin, n, "lattice vector") for n, line in rows]
        )
        if "PRIMCOORD" not in keywords:
            raise DataError(f"{origin}: CRYSTAL without PRIMCOORD (the atoms)")
        header = keywords.index("PRIMCOORD") + 1
        try:
            n_atoms = int(content[header][1].split()[0])
        except (IndexError, ValueError) as error:
            raise DataError(f"{origin}: PRIMCOORD must be followed by 'N 1'") from error
        atom_lines = content[header + 1 : header + 1 + n_atoms]
    elif "ATOMS" in keywords:
        start = keywords.index("ATOMS") + 1
        atom_lines = [(n, line) for n, line in content[start:] if line.split()[0][0].isalpha()]
        n_atoms = len(atom_lines)
    else:
        raise DataError(f"{origin}: neither CRYSTAL nor ATOMS block")
    if len(atom_lines) != n_atoms:
        raise DataError(f"{origin}: header says {n_atoms} atoms but {len(atom_lines)} follow")
    numbers, positions, forces = [], [], []
    for row, (line_number, line) in enumerate(atom_lines):
        fields = line.split()
        symbol = fields[0]
        if symbol.isdigit():
            numbers.append(int(symbol))
        elif symbol in atomic_numbers:
            numbers.append(atomic_numbers[symbol])
        else:
            raise DataError(
                f"{origin}, line {line_number}: atom {row + 1} has unknown element {symbol!r}"
            )
        if len(fields) < 7:
            raise DataError(
                f"{origin}, line {line_number}: atom {row + 1} has {len(fields) - 1} columns; "
                f"ænet XSF needs x y z fx fy fz (missing force columns)"
            )
        positions.append(_floats(fields[1:4], origin, line_number, f"atom {row + 1}'s position"))
        forces.append(_floats(fields[4:7], origin, line_number, f"atom {row + 1}'s force"))
    return {
        "energy": energy,
        "numbers": np.array(numbers),
        "positions": np.array(positions),
        "forces": np.array(forces),
        "cell": cell,
        "periodic": periodic,
    }


def _texts(path: Path) -> Iterator[tuple[str, str]]:
    if path.is_dir():
        files = sorted(path.rglob("*.xsf"))
        if not files:
            raise DataError(f"{path}: the directory holds no .xsf files")
        for file in files:
            yield str(file), file.read_text()
    elif path.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(path) as archive:
            members = sorted(
                (m for m in archive.getmembers() if m.isfile() and m.name.endswith(".xsf")),
                key=lambda m: m.name,
            )
            if not members:
                raise DataError(f"{path}: the archive holds no .xsf files")
            for member in members:
                handle = archive.extractfile(member)
                assert handle is not None
                yield f"{path}:{member.name}", handle.read().decode()
    else:
        yield str(path), path.read_text()


def read_xsf(path: str | Path, energy_unit: str = DEFAULT_ENERGY_UNIT) -> AtomsData:
    """Read an ænet XSF file, a directory of them or a .tar.gz archive into :class:`AtomsData`."""
    path = Path(path)
    factor = energy_unit_factor(energy_unit)
    frames = [parse_xsf(text, origin) for origin, text in _texts(path)]
    parts = []
    for frame in frames:
        numbers = frame["numbers"]
        assert isinstance(numbers, np.ndarray)
        n = len(numbers)
        parts.append(
            AtomsData(
                numbers=numbers.astype(np.int64),
                positions=np.asarray(frame["positions"], dtype=np.float64),
                n_atoms=np.array([n], dtype=np.int64),
                energy=np.array([float(frame["energy"]) * factor]),  # type: ignore[arg-type]
                forces=np.asarray(frame["forces"], dtype=np.float64) * factor,
                has_forces=np.array([True]),
                cell=np.asarray(frame["cell"], dtype=np.float64)[None],
                pbc=np.full((1, 3), bool(frame["periodic"])),
                source=np.zeros(1, dtype=np.int64),
                sources=(str(path),),
            )
        )
    data = concatenate(parts)
    return AtomsData(
        **{**data.__dict__, "source": np.zeros(len(data), dtype=np.int64), "sources": (str(path),)}
    )


def is_xsf_source(path: Path) -> bool:
    """True for .xsf files, directories of them and .tar.gz archives."""
    return path.suffix == ".xsf" or path.is_dir() or path.name.endswith((".tar.gz", ".tgz"))
