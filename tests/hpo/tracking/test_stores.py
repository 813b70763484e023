"""Store URLs: the order they are taken in, drivers, passwords, and nothing made by a look-up."""

from __future__ import annotations

import pytest

from hpo.tracking import stores
from hpo.tracking.runs import mlflow_uri
from hpo.tracking.stores import (
    STORAGE_ENV,
    StoreError,
    database_url,
    default_storage,
    require_existing_store,
    resolve_tracking_uri,
)


def test_a_tracking_uri_is_the_flag_then_the_environment_then_the_record_then_the_default(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None, None) == f"sqlite:///{tmp_path / 'mlflow.db'}"  # absolute
    assert resolve_tracking_uri(None, "http://recorded:5000") == "http://recorded:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://environment:5000")
    assert resolve_tracking_uri(None, "http://recorded:5000") == "http://environment:5000"
    assert resolve_tracking_uri("http://flag:5000", "http://recorded:5000") == "http://flag:5000"


def test_a_recorded_uri_whose_password_was_hidden_needs_the_real_one_again(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(StoreError, match="never stores; pass --tracking-uri or set MLFLOW"):
        resolve_tracking_uri(None, "http://ana:***@mlflow:5000")
    assert resolve_tracking_uri("http://ana:secret@mlflow:5000", "http://ana:***@mlflow:5000")


def test_the_optuna_storage_comes_from_its_variable_else_local_sqlite(monkeypatch) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    assert default_storage() == stores.DEFAULT_STORAGE == "sqlite:///pesweep.db"
    monkeypatch.setenv(STORAGE_ENV, "postgresql://ana:secret@db/studies")
    assert default_storage() == "postgresql://ana:secret@db/studies"


def test_postgresql_urls_get_an_installed_driver_and_others_stay(monkeypatch) -> None:
    monkeypatch.setattr(stores, "_importable", lambda module: module == "psycopg2")
    assert database_url("postgresql://db/s") == "postgresql+psycopg2://db/s"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    monkeypatch.setattr(stores, "_importable", lambda module: False)
    with pytest.raises(StoreError, match=r"postgresql://ana:\*\*\*@db/s needs the PostgreSQL"):
        database_url("postgresql://ana:secret@db/s")


def test_a_look_up_never_creates_a_store_and_mlflow_never_sees_a_password(
    tmp_path, monkeypatch
) -> None:
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "")  # restored after the test: mlflow_uri sets them
    missing = tmp_path / "mlflow.db"
    with pytest.raises(StoreError, match=f"no MLflow store at {missing}"):
        require_existing_store(f"sqlite:///{missing}", "MLflow store", "pass --tracking-uri")
    assert not missing.exists()
    assert mlflow_uri("http://ana:secret@mlflow:5000") == "http://mlflow:5000"
