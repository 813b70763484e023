"""Store URIs without their secrets: a password never reaches output, logs or stored records.

Pure string functions, shared by the calculator's ``models:/`` look-up and
the sweep machinery (:mod:`hpo.tracking.stores`).
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

HIDDEN = "***"
SQLITE_PREFIX = "sqlite:///"

# the password runs to the last @ before the path: an unquoted one may hold @ itself
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^/\s]*)@"
)


def mask_url(url: str | None) -> str:
    """``url`` with any password replaced by ``***`` (also inside longer text)."""
    if not url:
        return url or ""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{HIDDEN}@", str(url))


def url_password(url: str) -> str | None:
    """The password written in ``url``, if any."""
    match = _USERINFO.search(url)
    return urllib.parse.unquote(match["pw"]) if match else None


def mask_text(text: str, *urls: str | None) -> str:
    """``text`` with every URL's password hidden, also where the password stands alone."""
    text = mask_url(text)
    for url in urls:
        password = url_password(url) if url else None
        if password:
            text = text.replace(password, HIDDEN)
    return text


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(``url`` without user and password, user, password); the last two None when absent."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None and parts.username is None:
        return url, None, None
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    clean = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    unquote = urllib.parse.unquote
    return (
        clean,
        unquote(parts.username) if parts.username is not None else None,
        unquote(parts.password) if parts.password is not None else None,
    )


def missing_sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL when it does not exist yet, else None."""
    path = sqlite_path(url)
    return path if path is not None and not path.is_file() else None


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (relative to the working directory), else None."""
    if not url.startswith(SQLITE_PREFIX) or url == f"{SQLITE_PREFIX}:memory:":
        return None
    return Path(url[len(SQLITE_PREFIX) :].split("?")[0])


def absolute_url(url: str) -> str:
    """``url`` with a relative ``sqlite:///`` path made absolute (a command that works anywhere)."""
    path = sqlite_path(url)
    if path is None or path.is_absolute():
        return url
    query = url.partition("?")[2]
    return f"{SQLITE_PREFIX}{path.resolve()}" + (f"?{query}" if query else "")


# the MLflow UI's pages (MLflow 3): a run, and an experiment's runs in its model-training table
# sorted by a metric, so that nested runs (a study's trials) are listed rather than folded
# under their parent. MLflow 3's UI chooses between its GenAI view ("Evaluations") and its
# machine-learning view by the page's workflowType query parameter, else by a choice kept in
# the browser, GenAI by default; the experiment's mlflow.experimentKind tag does not decide it
MACHINE_LEARNING_VIEW = "workflowType=machine_learning"


def mlflow_run_url(server: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI page of one run on a tracking server (``server``: its http(s) URL)."""
    return (
        f"{mask_url(server).rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
        f"?{MACHINE_LEARNING_VIEW}"
    )


def mlflow_runs_url(server: str, experiment_id: str, metric: str) -> str:
    """The MLflow UI's table of an experiment's runs, best ``metric`` (lowest) first."""
    order = urllib.parse.quote(f"metrics.`{metric}`")
    return (
        f"{mask_url(server).rstrip('/')}/#/experiments/{experiment_id}/runs"
        f"?orderByKey={order}&orderByAsc=true&{MACHINE_LEARNING_VIEW}"
    )
