"""The two stores a sweep writes to, Optuna's storage and MLflow's tracking store, as values.

A :class:`Store` is one store's URL resolved once, in one order (the flag,
the environment, the study's record, the default): it carries the real URL
(kept in the process), its masked form (``postgresql://alice:***@host/db``,
what every message, log, tag and record shows; also its ``str``), and what
derives from it: the local database file, the URL with an installed
database driver, the artifact folder of a local MLflow store.

* :func:`tracking_store` and :func:`optuna_storage` resolve the two stores.
  A tracking *server* takes its user and password from MLflow's own
  ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``; a server URL
  with a password in it is refused (it would stand in the process list and
  in MLflow's printed run links), and pesweep never writes ``os.environ``.
* :meth:`Store.require_existing` lets read-only commands say "no store at
  ..." instead of creating an empty SQLite file.
* :func:`check_tracking_store` finds a dead or wrong tracking store within
  seconds, before a study is touched.
* :func:`creation_lock` serialises the first creation of a local SQLite store
  by processes that start in the same second (job arrays do).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import importlib.util
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lightning_modules.conventions import DEFAULT_TRACKING_URI, TRACKING_ENV
from lightning_modules.errors import PesweepError
from lightning_modules.store_uris import (
    HIDDEN,
    SQLITE_PREFIX,
    mask_text,
    mask_url,
    sqlite_path,
    url_password,
)

__all__ = [
    "DEFAULT_STORAGE",
    "SQLITE_PREFIX",
    "STORAGE_ENV",
    "TRACKING_ENV",
    "TRACKING_PASSWORD_ENV",
    "TRACKING_USERNAME_ENV",
    "MissingStore",
    "Store",
    "StoreError",
    "check_tracking_store",
    "creation_lock",
    "mask_text",
    "mask_url",
    "optuna_storage",
    "tracking_store",
]

PROBE_SECONDS = 5.0
STORAGE_ENV = "PESWEEP_STORAGE"  # the Optuna storage (a password belongs here, not in argv)
DEFAULT_STORAGE = "sqlite:///pesweep.db"  # in the working directory
# MLflow's documented basic-auth settings of a tracking server; pesweep only reads them
TRACKING_USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
TRACKING_PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
DATABASE_SCHEMES = ("postgresql", "postgres", "mysql", "mssql")


class StoreError(PesweepError):
    """A store URL that cannot be used; the message names the URL (password hidden) and the fix."""


class MissingStore(StoreError, FileNotFoundError):
    """A local store that a command only reads is not there (nothing was created)."""


@dataclass(frozen=True)
class Store:
    """One store's URL, resolved once: the real URL, its masked form, and what derives from it.

    ``str(store)`` and ``repr(store)`` are the masked form, so a store put in a
    message, a log line or a record never shows its password; ``uri`` is the
    real URL, for the library that opens the store and nothing else.
    """

    uri: str = field(repr=False)
    origin: str = "the default"  # a flag, an environment variable, the study's record

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Store({self.masked!r}, origin={self.origin!r})"

    @property
    def masked(self) -> str:
        """The URL with any password replaced by ``***`` (what is shown and stored)."""
        return mask_url(self.uri)

    @property
    def has_hidden_password(self) -> bool:
        """Whether this URL was recorded with its password hidden (the real one is not stored)."""
        return url_password(self.uri) == HIDDEN

    @property
    def is_server(self) -> bool:
        """An MLflow tracking server (``http(s)://``), rather than a database or a folder."""
        return self.uri.startswith(("http://", "https://"))

    @property
    def is_database_server(self) -> bool:
        """PostgreSQL, MySQL or SQL Server: a database that must accept a connection."""
        return self.uri.partition("://")[0].split("+")[0] in DATABASE_SCHEMES

    @property
    def local_file(self) -> Path | None:
        """The absolute database file of a ``sqlite:///`` store (it may not exist yet), else None."""
        path = sqlite_path(self.uri)
        return path.resolve() if path is not None else None

    @property
    def missing_file(self) -> Path | None:
        """The database file of a ``sqlite:///`` store that does not exist yet, else None."""
        path = self.local_file
        return path if path is not None and not path.is_file() else None

    @property
    def driver_url(self) -> str:
        """The URL with a PostgreSQL driver SQLAlchemy can import (other URLs unchanged).

        Plain ``postgresql://`` URLs get the driver that is installed (SQLAlchemy
        2.1 picks psycopg 3; many set-ups have psycopg2), or a :class:`StoreError`
        naming the extra to install.
        """
        scheme, sep, rest = self.uri.partition("://")
        if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
            return self.uri
        driver = scheme.partition("+")[2]
        modules = {"": "psycopg", "psycopg": "psycopg", "psycopg2": "psycopg2", "pg8000": "pg8000"}
        if driver and driver not in modules:
            return self.uri  # a driver we do not know: SQLAlchemy says what is wrong
        wanted = modules[driver]
        if _importable(wanted):
            return f"postgresql+{driver or 'psycopg'}://{rest}"
        if not driver and _importable("psycopg2"):
            return f"postgresql+psycopg2://{rest}"
        raise StoreError(
            f"{self.masked} needs the PostgreSQL driver {wanted!r}, which is not installed; "
            f"pip install 'pesweep[postgres]'"
        )

    def artifact_location(self, experiment_name: str) -> str | None:
        """The artifact folder of a new experiment in a SQLite store: beside the database file.

        None for other stores (a tracking server or a database server chooses its own).
        """
        database = self.local_file
        if database is None:
            return None
        folder = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment_name).strip("._") or "experiment"
        return (database.parent / "mlruns" / folder).as_uri()

    def require_existing(self, what: str, fix: str) -> Store:
        """This store, or :class:`MissingStore` when its SQLite file is not there (nothing made)."""
        if self.missing_file is not None:
            raise MissingStore(f"no {what} at {self.missing_file}; {fix}")
        return self


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def tracking_store(flag: str | Store | None, recorded: str | None = None) -> Store:
    """The MLflow store: the flag, ``$MLFLOW_TRACKING_URI``, the study's record, the default.

    The default is MLflow's local ``sqlite:///mlflow.db``, pinned to an
    absolute path (resumes from elsewhere find it). A study
    records its URI masked; resuming one whose password was hidden needs the
    real URI again. A tracking server's password belongs in
    ``$MLFLOW_TRACKING_PASSWORD``: a server URL with one is refused.
    """
    if isinstance(flag, Store):
        return flag
    if flag:
        store = Store(flag, "--tracking-uri")
    elif os.environ.get(TRACKING_ENV):
        store = Store(os.environ[TRACKING_ENV], f"${TRACKING_ENV}")
    elif recorded:
        store = Store(recorded, "the study's record")
        if store.has_hidden_password:
            raise StoreError(
                f"the study's tracking URI {recorded} has a password, which pesweep never "
                f"stores; pass --tracking-uri or set {TRACKING_ENV}"
            )
    else:
        local = sqlite_path(DEFAULT_TRACKING_URI)
        assert local is not None
        store = Store(f"{SQLITE_PREFIX}{local.resolve()}")
    if store.is_server and url_password(store.uri) is not None:
        raise StoreError(
            f"the tracking server URL {store.masked} ({store.origin}) holds a password; give "
            f"the URL without it and the user and password in ${TRACKING_USERNAME_ENV} and "
            f"${TRACKING_PASSWORD_ENV} (MLflow's basic-auth settings)"
        )
    return store


def optuna_storage(flag: str | Store | None = None) -> Store:
    """The Optuna storage: the flag, ``$PESWEEP_STORAGE`` (keeps a password off the command
    line), else ``sqlite:///pesweep.db`` in the working directory."""
    if isinstance(flag, Store):
        return flag
    if flag:
        return Store(flag, "--storage")
    if os.environ.get(STORAGE_ENV):
        return Store(os.environ[STORAGE_ENV], f"${STORAGE_ENV}")
    return Store(DEFAULT_STORAGE)


@contextlib.contextmanager
def creation_lock(store: Store) -> Iterator[None]:
    """Hold an exclusive lock on a local SQLite store's folder while the store is opened.

    Two processes that create the same SQLite store at once race in its schema
    migrations (Optuna's and MLflow's alembic). The lock is ``flock`` on the
    folder itself: it creates no file and ends with the process.
    """
    path = store.local_file
    if path is None:
        yield
        return
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def check_tracking_store(store: Store, seconds: float = PROBE_SECONDS) -> None:
    """Raise :class:`StoreError` within about ``seconds`` when the tracking store does not answer.

    A tracking server must answer an experiment search on MLflow's REST API
    (with MLflow's basic-auth settings, as MLflow sends them); a database
    store (``postgresql://``, ``mysql://``) must accept a connection. Local
    SQLite stores and folders are created on first use and are not probed.
    """
    fix = "start it, or pass another --tracking-uri (or MLFLOW_TRACKING_URI)"
    if store.missing_file is not None:  # MLflow makes it on first use: its folder must take it
        from hpo.runtime.outputs import check_writable

        check_writable(store.missing_file.parent, f"the MLflow store {store}: its folder")
        return
    if store.is_server:
        try:
            with urllib.request.urlopen(_search_request(store), timeout=seconds) as answer:
                json.load(answer)
        except urllib.error.HTTPError as error:
            raise StoreError(
                f"the MLflow tracking server {store} answered HTTP {error.code} "
                f"({error.reason}); check the URL, ${TRACKING_USERNAME_ENV} and "
                f"${TRACKING_PASSWORD_ENV}"
            ) from error
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise StoreError(
                f"no MLflow tracking server answers at {store} "
                f"({mask_text(str(reason), store.uri)}); {fix}"
            ) from error
        return
    if store.is_database_server:
        from sqlalchemy import create_engine

        scheme = store.uri.partition("://")[0].split("+")[0]
        connect_args = {"connect_timeout": int(max(1, seconds))} if scheme != "mssql" else {}
        engine = create_engine(store.driver_url, connect_args=connect_args)
        try:
            with engine.connect():
                pass
        except Exception as error:  # drivers raise their own kinds for refused connections
            text = str(error).strip()
            reason = text.splitlines()[0] if text else type(error).__name__
            raise StoreError(
                f"cannot connect to the MLflow tracking store {store} "
                f"({mask_text(reason, store.uri)}); {fix}"
            ) from error
        finally:
            engine.dispose()


def _search_request(store: Store) -> urllib.request.Request:
    """A one-experiment search on MLflow's REST API, with MLflow's basic-auth settings."""
    request = urllib.request.Request(
        f"{store.uri.rstrip('/')}/api/2.0/mlflow/experiments/search",
        data=json.dumps({"max_results": 1}).encode(),
        headers={"Content-Type": "application/json"},
    )
    username = os.environ.get(TRACKING_USERNAME_ENV)
    password = os.environ.get(TRACKING_PASSWORD_ENV)
    if username and password:  # MLflow sends basic auth only when both are set
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request
