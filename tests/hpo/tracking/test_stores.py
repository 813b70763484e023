"""Store values: the order they are taken in, drivers, passwords, and nothing made by a look-up."""

from __future__ import annotations

import base64
import http.server
import os
import subprocess
import sys
import threading

import pytest

from hpo.tracking import stores
from hpo.tracking.stores import (
    STORAGE_ENV,
    MissingStore,
    Store,
    StoreError,
    check_tracking_store,
    optuna_storage,
    tracking_store,
)


def test_a_tracking_store_is_the_flag_then_the_environment_then_the_record_then_the_default(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    default = tracking_store(None)
    assert default.uri == f"sqlite:///{tmp_path / 'mlflow.db'}"  # absolute
    assert default.origin == "the default" and default.local_file == tmp_path / "mlflow.db"
    recorded = tracking_store(None, "http://recorded:5000")
    assert (recorded.uri, recorded.origin) == ("http://recorded:5000", "the study's record")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://environment:5000")
    assert tracking_store(None, "http://recorded:5000").uri == "http://environment:5000"
    flag = tracking_store("http://flag:5000", "http://recorded:5000")
    assert (flag.uri, flag.origin, flag.is_server) == ("http://flag:5000", "--tracking-uri", True)
    assert tracking_store(flag) is flag  # a resolved store passes through


def test_a_store_shows_only_its_masked_form(tmp_path) -> None:
    store = Store("postgresql://ana:s3cret@db/mlflow", "--tracking-uri")
    assert store.masked == str(store) == "postgresql://ana:***@db/mlflow"
    assert "s3cret" not in repr(store) and "s3cret" not in f"{store} {[store]}"
    assert store.uri == "postgresql://ana:s3cret@db/mlflow"  # the real URL stays in the process
    local = Store(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    assert local.artifact_location("my study") == (tmp_path / "runs/mlruns/my_study").as_uri()
    assert Store("http://mlflow:5000").artifact_location("s") is None


def test_a_recorded_uri_whose_password_was_hidden_needs_the_real_one_again(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(StoreError, match="never stores; pass --tracking-uri or set MLFLOW"):
        tracking_store(None, "postgresql://ana:***@db/mlflow")
    real = tracking_store("postgresql://ana:secret@db/mlflow", "postgresql://ana:***@db/mlflow")
    assert real.uri == "postgresql://ana:secret@db/mlflow"


def test_a_tracking_server_password_belongs_in_mlflows_variables_and_none_is_written(
    monkeypatch,
) -> None:
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    with pytest.raises(StoreError) as refused:
        tracking_store("http://ana:secret@mlflow:5000")
    message = str(refused.value)
    assert "secret" not in message and "http://ana:***@mlflow:5000 (--tracking-uri)" in message
    assert "$MLFLOW_TRACKING_USERNAME and $MLFLOW_TRACKING_PASSWORD" in message
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://ana:secret@mlflow")
    with pytest.raises(StoreError, match=r"\(\$MLFLOW_TRACKING_URI\) holds a password"):
        tracking_store(None)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert dict(os.environ) == before  # nothing written into the environment


def test_the_optuna_storage_is_the_flag_then_its_variable_then_local_sqlite(monkeypatch) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    assert optuna_storage().uri == stores.DEFAULT_STORAGE == "sqlite:///pesweep.db"
    monkeypatch.setenv(STORAGE_ENV, "postgresql://ana:secret@db/studies")
    from_environment = optuna_storage(None)
    assert from_environment.uri == "postgresql://ana:secret@db/studies"
    assert from_environment.origin == "$PESWEEP_STORAGE" and from_environment.is_database_server
    assert optuna_storage("sqlite:///other.db").uri == "sqlite:///other.db"


def test_no_help_text_shows_the_storage_password_of_the_environment(tmp_path) -> None:
    """``--help`` once printed $PESWEEP_STORAGE, password and all, as the --storage default."""
    environment = {**os.environ, STORAGE_ENV: "postgresql://ana:Hunter2pw@db/studies"}
    for command in (("sync",), ("ui",), ("report",), ("promote",), ("sweep",)):
        shown = subprocess.run(
            [sys.executable, "-m", "hpo.cli", *command, "--help"],
            capture_output=True,
            text=True,
            env=environment,
            cwd=tmp_path,
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        assert "--storage" in shown.stdout and "Hunter2pw" not in shown.stdout, command


def test_postgresql_urls_get_an_installed_driver_and_others_stay(monkeypatch) -> None:
    monkeypatch.setattr(stores, "_importable", lambda module: module == "psycopg2")
    assert Store("postgresql://db/s").driver_url == "postgresql+psycopg2://db/s"
    assert Store("sqlite:///x.db").driver_url == "sqlite:///x.db"
    monkeypatch.setattr(stores, "_importable", lambda module: False)
    with pytest.raises(StoreError, match=r"postgresql://ana:\*\*\*@db/s needs the PostgreSQL"):
        Store("postgresql://ana:secret@db/s").driver_url  # noqa: B018


def test_a_look_up_never_creates_a_store(tmp_path) -> None:
    missing = tmp_path / "mlflow.db"
    with pytest.raises(MissingStore, match=f"no MLflow store at {missing}; pass --tracking-uri"):
        Store(f"sqlite:///{missing}").require_existing("MLflow store", "pass --tracking-uri")
    assert not missing.exists()
    assert isinstance(MissingStore("x"), FileNotFoundError)


class _BasicAuthServer(http.server.BaseHTTPRequestHandler):
    """Answers MLflow's experiment search only with the right basic-auth header."""

    expected = "Basic " + base64.b64encode(b"ana:pw-tracking").decode()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401, "Unauthorized")
            self.end_headers()
            return
        body = b'{"experiments": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_probe_of_a_tracking_server_sends_mlflows_basic_auth_settings(monkeypatch) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BasicAuthServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    store = tracking_store(f"http://127.0.0.1:{server.server_address[1]}")
    try:
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
        with pytest.raises(StoreError, match="answered HTTP 401 .*MLFLOW_TRACKING_PASSWORD"):
            check_tracking_store(store)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ana")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw-tracking")
        check_tracking_store(store)
    finally:
        server.shutdown()
        server.server_close()
