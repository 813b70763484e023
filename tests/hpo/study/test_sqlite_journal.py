"""SQLite studies use the write-ahead log on local disks and keep the default journal on network ones."""

from __future__ import annotations

import sqlite3

import optuna
import sqlalchemy

from hpo.study.setup import connect_storage
from hpo.study.sqlite_journal import file_system_type, use_write_ahead_log, write_ahead_log_is_safe

MOUNTS = """\
overlay / overlay rw,relatime 0 0
/dev/sda1 /scratch ext4 rw 0 0
fileserver:/home /home nfs4 rw,vers=4.2 0 0
/dev/sdb1 /home/local\\040disk xfs rw 0 0
mds@tcp:/lustre /lustre lustre rw 0 0
"""


def journal_mode(path) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA journal_mode").fetchone()[0]


def test_the_file_system_is_that_of_the_longest_mount_point(tmp_path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    assert file_system_type("/home/me/study.db", str(mounts)) == "nfs4"
    assert file_system_type("/home/local disk/study.db", str(mounts)) == "xfs"
    assert file_system_type("/scratch/x/study.db", str(mounts)) == "ext4"
    assert file_system_type("/homework/study.db", str(mounts)) == "overlay"
    assert write_ahead_log_is_safe("/scratch/study.db", str(mounts))
    assert not write_ahead_log_is_safe("/home/me/study.db", str(mounts))
    assert not write_ahead_log_is_safe("/lustre/me/study.db", str(mounts))
    assert not write_ahead_log_is_safe("/scratch/study.db", str(tmp_path / "no-such-file"))


def test_a_local_study_file_uses_the_write_ahead_log(tmp_path) -> None:
    path = tmp_path / "study.db"
    storage = connect_storage(f"sqlite:///{path}")
    study = optuna.create_study(storage=storage, study_name="wal")
    trial = study.ask()
    trial.report(1.0, 0)
    study.tell(trial, 1.0)
    assert journal_mode(path) == "wal"
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    reloaded = optuna.load_study(study_name="wal", storage=f"sqlite:///{path}")
    assert reloaded.trials[0].intermediate_values == {0: 1.0}


def test_a_study_file_on_a_network_file_system_keeps_the_default_journal(tmp_path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"server:/export {tmp_path} nfs rw 0 0\n")
    path = tmp_path / "study.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    assert not use_write_ahead_log(engine, path, str(mounts))
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        connection.commit()
    assert journal_mode(path) == "delete"
