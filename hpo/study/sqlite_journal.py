"""SQLite study files in write-ahead-log mode where that is safe: on a local disk.

Every Optuna call is one transaction, and a trial makes a dozen or more (ask,
one report per epoch, its attributes, tell). In SQLite's default rollback
journal each commit syncs the file several times; in write-ahead-log mode
with ``synchronous=NORMAL`` (SQLite's recommendation for WAL) a commit is an
append, readers do not block the writer, and a crash of the process cannot
corrupt the file (a power cut may lose the last commits, never the rest).

WAL needs shared memory between the processes that open the file, so it
must not be used on a network file system (NFS, Lustre, GPFS, ...: SQLite's
documentation says it does not work there). The file system is read from
``/proc/mounts``; where it is a network one, or cannot be told, the file
keeps SQLite's default journal.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

NETWORK_FILE_SYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "lustre",
        "gpfs",
        "beegfs",
        "ceph",
        "glusterfs",
        "9p",
        "afs",
        "panfs",
        "pvfs2",
        "orangefs",
        "wekafs",
        "virtiofs",
    }
)


def file_system_type(path: str | Path, mounts: str = "/proc/mounts") -> str | None:
    """The type of the file system that holds ``path`` (its longest mount point), or None."""
    try:
        table = Path(mounts).read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in table:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fields[2]
    return kind


def write_ahead_log_is_safe(database: str | Path, mounts: str = "/proc/mounts") -> bool:
    """True where the folder of ``database`` is on a local file system (any fuse one counts as remote)."""
    kind = file_system_type(Path(database).parent, mounts)
    return kind is not None and kind not in NETWORK_FILE_SYSTEMS and not kind.startswith("fuse")


def use_write_ahead_log(engine: Any, database: str | Path, mounts: str = "/proc/mounts") -> bool:
    """Every new connection of ``engine`` (SQLAlchemy) uses WAL with ``synchronous=NORMAL``.

    Only where :func:`write_ahead_log_is_safe`; returns whether it was set.
    The engine's open connections are closed, so every later one gets it.
    """
    if not write_ahead_log_is_safe(database, mounts):
        logger.debug("%s is not on a local disk: SQLite's default journal kept", database)
        return False
    from sqlalchemy import event

    def on_connect(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()
    return True
