"""The URLs of the two stores a sweep writes to: Optuna's storage and MLflow's tracking store.

* :func:`mask_url` hides a password in any URL that is printed, logged or
  stored (``postgresql://alice:***@host/db``, ``http://alice:***@host``); the
  real URL stays in the process.
* :func:`database_url` makes plain ``postgresql://`` URLs use the PostgreSQL
  driver that is installed (SQLAlchemy 2.1 picks psycopg 3; many set-ups have
  psycopg2), or names the extra to install.
* :func:`resolve_tracking_uri`: the flag, ``$MLFLOW_TRACKING_URI``, the
  study's record (never one whose password was hidden), the local default.
* :func:`require_existing_store` lets read-only commands say "no store at ..."
  instead of creating an empty SQLite file.
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
import urllib.error
import urllib.request
from collections.abc import Iterator

from lightning_modules.conventions import DEFAULT_TRACKING_URI, TRACKING_ENV
from lightning_modules.errors import PesweepError
from lightning_modules.store_uris import (
    HIDDEN,
    SQLITE_PREFIX,
    mask_text,
    mask_url,
    missing_sqlite_file,
    split_credentials,
    sqlite_path,
    url_password,
)

__all__ = [
    "DEFAULT_STORAGE",
    "SQLITE_PREFIX",
    "STORAGE_ENV",
    "TRACKING_ENV",
    "StoreError",
    "check_tracking_store",
    "creation_lock",
    "database_url",
    "default_storage",
    "has_hidden_password",
    "mask_text",
    "mask_url",
    "missing_sqlite_file",
    "require_existing_store",
    "sqlite_path",
]

PROBE_SECONDS = 5.0
STORAGE_ENV = "PESWEEP_STORAGE"  # the Optuna storage (a password belongs here, not in argv)
DEFAULT_STORAGE = "sqlite:///pesweep.db"  # in the working directory


class StoreError(PesweepError):
    """A store URL that cannot be used; the message names the URL (password hidden) and the fix."""


def has_hidden_password(url: str) -> bool:
    """Whether ``url`` was stored with its password hidden (the real one is not stored)."""
    return url_password(url) == HIDDEN


def default_tracking_uri() -> str:
    """MLflow's local default, pinned to an absolute path so resumes from elsewhere find it."""
    local = sqlite_path(DEFAULT_TRACKING_URI)
    assert local is not None
    return f"{SQLITE_PREFIX}{local.resolve()}"


def resolve_tracking_uri(flag: str | None, recorded: str | None) -> str:
    """The tracking URI to use: the flag, ``$MLFLOW_TRACKING_URI``, the study's record, the default.

    A study records its URI with the password hidden; resuming such a study
    needs the real URI again, from the flag or the environment.
    """
    if flag:
        return flag
    if os.environ.get(TRACKING_ENV):
        return os.environ[TRACKING_ENV]
    if recorded:
        if has_hidden_password(recorded):
            raise StoreError(
                f"the study's tracking URI {recorded} has a password, which pesweep never "
                f"stores; pass --tracking-uri or set {TRACKING_ENV}"
            )
        return recorded
    return default_tracking_uri()


def default_storage() -> str:
    """``$PESWEEP_STORAGE`` when set (keeps a password off the command line), else local SQLite."""
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def database_url(url: str) -> str:
    """``url`` with a PostgreSQL driver SQLAlchemy can import; other URLs unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        return url
    driver = scheme.partition("+")[2]
    modules = {"": "psycopg", "psycopg": "psycopg", "psycopg2": "psycopg2", "pg8000": "pg8000"}
    if driver and driver not in modules:
        return url  # a driver we do not know: SQLAlchemy says what is wrong
    wanted = modules[driver]
    if _importable(wanted):
        return f"postgresql+{driver or 'psycopg'}://{rest}"
    if not driver and _importable("psycopg2"):
        return f"postgresql+psycopg2://{rest}"
    raise StoreError(
        f"{mask_url(url)} needs the PostgreSQL driver {wanted!r}, which is not installed; "
        f"pip install 'pesweep[postgres]'"
    )


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require_existing_store(url: str, what: str, fix: str) -> None:
    """Refuse a ``sqlite:///`` URL whose file does not exist, so that nothing is created."""
    path = missing_sqlite_file(url)
    if path is not None:
        raise StoreError(f"no {what} at {path.resolve()}; {fix}")


@contextlib.contextmanager
def creation_lock(url: str) -> Iterator[None]:
    """Hold an exclusive lock on a local SQLite store's folder while the store is opened.

    Two processes that create the same SQLite store at once race in its schema
    migrations (Optuna's and MLflow's alembic). The lock is ``flock`` on the
    folder itself: it creates no file and ends with the process.
    """
    path = sqlite_path(url)
    if path is None:
        yield
        return
    folder = path.resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def check_tracking_store(uri: str, seconds: float = PROBE_SECONDS) -> None:
    """Raise :class:`StoreError` within about ``seconds`` when the tracking store does not answer.

    A tracking server must answer an experiment search on MLflow's REST API; a database
    store (``postgresql://``, ``mysql://``) must accept a connection. Local
    SQLite stores and folders are created on first use and are not probed.
    """
    fix = "start it, or pass another --tracking-uri (or MLFLOW_TRACKING_URI)"
    new_file = missing_sqlite_file(uri)
    if new_file is not None:  # MLflow makes it on first use: its folder must take it
        from hpo.runtime.outputs import check_writable

        check_writable(new_file.parent, f"the MLflow store {mask_url(uri)}: its folder")
        return
    if uri.startswith(("http://", "https://")):
        request = _search_request(uri)
        try:
            with urllib.request.urlopen(request, timeout=seconds) as answer:
                json.load(answer)
        except urllib.error.HTTPError as error:
            raise StoreError(
                f"the MLflow tracking server {mask_url(uri)} answered HTTP "
                f"{error.code} ({error.reason}); check the URL and credentials"
            ) from error
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise StoreError(
                f"no MLflow tracking server answers at {mask_url(uri)} "
                f"({mask_text(str(reason), uri)}); {fix}"
            ) from error
        return
    scheme = uri.partition("://")[0].split("+")[0]
    if scheme in ("postgresql", "postgres", "mysql", "mssql"):
        from sqlalchemy import create_engine

        connect_args = {"connect_timeout": int(max(1, seconds))} if scheme != "mssql" else {}
        engine = create_engine(database_url(uri), connect_args=connect_args)
        try:
            with engine.connect():
                pass
        except Exception as error:  # drivers raise their own kinds for refused connections
            text = str(error).strip()
            reason = text.splitlines()[0] if text else type(error).__name__
            raise StoreError(
                f"cannot connect to the MLflow tracking store {mask_url(uri)} "
                f"({mask_text(reason, uri)}); {fix}"
            ) from error
        finally:
            engine.dispose()


def _search_request(uri: str) -> urllib.request.Request:
    """A one-experiment search on MLflow's REST API, with the URL's credentials as basic auth."""
    clean, username, password = split_credentials(uri)
    request = urllib.request.Request(
        f"{clean.rstrip('/')}/api/2.0/mlflow/experiments/search",
        data=json.dumps({"max_results": 1}).encode(),
        headers={"Content-Type": "application/json"},
    )
    if password is not None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request
