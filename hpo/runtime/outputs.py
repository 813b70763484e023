"""Output folders and files of commands: nothing a user made is overwritten without a flag.

* A folder the user named (``--output-dir``, a config's ``output_dir``) that
  already holds files is refused unless ``overwrite``.
* A default folder that already holds files is not reused: the next free
  numbered sibling (``pesweep_runs/train-2``, ``-3``, ...) is taken, and the
  caller says which.
* An output file that exists is refused unless ``force``; one that is also an
  input is refused always.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from lightning_modules.errors import PesweepError


class OutputError(PesweepError):
    """An output path that would overwrite something; the message names the flag or the fix."""


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def claim_output_dir(
    path: str | Path,
    chosen_by_user: bool,
    overwrite: bool = False,
    option: str = "--output-dir",
    inputs: Iterable[str | Path] = (),
) -> Path:
    """The folder a command may write into (see the module docstring); ``option`` names its flag.

    A folder that holds one of the command's ``inputs`` is refused always, ``--overwrite``
    or not: the command's own files (``config.yaml``, ``split.npz``, ...) could land on it.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output folder {folder} is a file; choose another {option}")
    for source in inputs:
        if "://" not in str(source) and Path(source).resolve().is_relative_to(folder.resolve()):
            raise OutputError(
                f"{option} {folder} holds the input {source}, which its outputs could replace; "
                f"choose another {option}"
            )
    check_writable(folder, option)
    if not _holds_files(folder) or overwrite:
        return folder
    if chosen_by_user:
        raise OutputError(
            f"output folder {folder} already holds files (an earlier run?); choose another "
            f"{option}, or pass --overwrite to replace them"
        )
    number = 2
    while _holds_files(folder.with_name(f"{folder.name}-{number}")):
        number += 1
    return folder.with_name(f"{folder.name}-{number}")


def check_writable(path: str | Path, what: str) -> None:
    """Refuse a folder (or a file's folder) that cannot be made or written, leaving no trace.

    The nearest existing folder above ``path`` must be a folder in which a
    new entry can be made (tried with a temporary one, removed at once): a
    path under a file, in ``/proc`` or on a read-only disk is one line here
    rather than a traceback after stores were made.
    """
    target = Path(path).absolute()
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{what} {path} lies under the file {existing}; choose a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".pesweep-probe-", dir=existing))
    except OSError as error:
        raise OutputError(
            f"{what} {path}: cannot write in {existing} ({error.strerror}); choose a place "
            f"you can write"
        ) from error


def check_output_file(path: str | Path, inputs: Iterable[str | Path], force: bool = False) -> Path:
    """Refuse to write ``path`` over an input or a database (always), or over any file (without force).

    The same file is found by resolved path and by inode (hard links,
    symlinks and ``..`` included); an input folder protects everything in it.
    A SQLite database (a study storage, an MLflow store) is never an output.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"--out {target} is a folder; name a file")
    if names_an_input(target, inputs):
        raise OutputError(f"--out {target} is an input of this command; write elsewhere")
    if is_database(target):
        raise OutputError(
            f"--out {target} is a database (a study storage or MLflow store?); write elsewhere"
        )
    if target.exists() and not force:
        raise OutputError(f"{target} exists; choose another --out, or pass --force to replace it")
    return target


def names_an_input(target: str | Path, inputs: Iterable[str | Path]) -> bool:
    """Whether ``target`` is one of ``inputs`` or lies in an input folder (path or inode)."""
    target = Path(target)
    resolved = target.resolve()
    for source in inputs:
        source_path = Path(source).resolve()
        if resolved == source_path or (source_path.is_dir() and source_path in resolved.parents):
            return True
        if target.exists() and source_path.is_file() and os.path.samefile(target, source_path):
            return True  # a hard link to the input
    return False


SQLITE_MAGIC = b"SQLite format 3\x00"


def is_database(path: str | Path) -> bool:
    """Whether ``path`` is an existing SQLite database file."""
    try:
        with open(path, "rb") as stream:
            return stream.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False
