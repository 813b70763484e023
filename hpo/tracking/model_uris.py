"""Trained models by MLflow URI: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/ID/model``.

:func:`resolve_checkpoint` turns any of them (or a local path) into a local
checkpoint file, downloaded once into :func:`model_cache_dir` and checked
against the SHA-256 its training recorded; :func:`load_potential` returns the
ASE calculator on it. The store is ``tracking_uri``, else
``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``
(:func:`hpo.tracking.stores.tracking_store`; never created by a look-up).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hpo.tracking.stores import Store, tracking_store
from lightning_modules.conventions import TRACKING_ENV
from lightning_modules.errors import CheckpointNotFound
from lightning_modules.training.calculator import PesweepCalculator, local_checkpoint
from lightning_modules.training.task import CHECKPOINT_DIGEST_TAG

MODEL_STORE_FIX = (
    f"pass --tracking-uri (tracking_uri=) or set {TRACKING_ENV} to the store that holds the model"
)


def model_store(tracking: str | Store | None) -> Store:
    """The store of a model look-up (flag, ``$MLFLOW_TRACKING_URI``, default); never created.

    A look-up must not leave an empty SQLite store behind where there was none.
    """
    return tracking_store(tracking).require_existing("MLflow tracking store", MODEL_STORE_FIX)


def model_cache_dir() -> Path:
    """Where downloaded models are kept: ``$PESWEEP_CACHE_DIR``, else ``$XDG_CACHE_HOME/pesweep``."""
    if os.environ.get("PESWEEP_CACHE_DIR"):
        return Path(os.environ["PESWEEP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pesweep" / "models"


def download_once(artifact_uri: str, tracking: Store) -> Path:
    """A local copy of an MLflow artifact, downloaded once per (tracking store, artifact).

    Artifacts of a finished run do not change, so one copy serves every load;
    processes that download the same artifact at once each write a private
    folder and the first rename wins.
    """
    import mlflow.artifacts

    key = hashlib.sha256(f"{tracking.masked}|{artifact_uri}".encode()).hexdigest()
    root = model_cache_dir()
    final = root / key[:24]
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
    try:
        mlflow.artifacts.download_artifacts(
            artifact_uri=artifact_uri, tracking_uri=tracking.driver_url, dst_path=str(partial)
        )
        try:
            partial.rename(final)
        except OSError:  # another process finished first
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def registered_version(uri: str, tracking: str | Store | None) -> Any:
    """The model version behind ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.

    The registry is looked up in the tracking store (pesweep keeps both in one);
    a local store that does not exist is an error, not created.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    store = model_store(tracking)
    client = MlflowClient(tracking_uri=store.driver_url, registry_uri=store.driver_url)
    body = uri.removeprefix("models:/")
    try:
        if "@" in body:
            version = client.get_model_version_by_alias(*body.split("@", 1))
        else:
            name, _, number = body.partition("/")
            version = client.get_model_version(name, number)
    except MlflowException as error:
        raise CheckpointNotFound(
            f"{uri} is not in the registry at {store}; check the name and alias "
            f"with pesweep models list, or {MODEL_STORE_FIX}"
        ) from error
    return version


def resolve_checkpoint(path_or_uri: str | Path, tracking_uri: str | Store | None = None) -> Path:
    """A local checkpoint file for a path, a folder holding one, ``models:/...`` or ``runs:/...``.

    Registered and logged models are downloaded once into :func:`model_cache_dir`.
    """
    text = str(path_or_uri)
    recorded = ""  # the SHA-256 its training recorded, where the registry or the run holds one
    if text.startswith("models:/"):
        version = registered_version(text, tracking_uri)
        text, recorded = str(version.source), (version.tags or {}).get("checkpoint_sha256", "")
    if text.startswith(("runs:/", "mlflow-artifacts:/")) or "://" in text:
        store = model_store(tracking_uri) if text.startswith("runs:/") else None
        if store is not None:
            recorded = recorded or _run_digest(text, store)
        local = download_once(text, store or tracking_store(tracking_uri))
    else:
        local = Path(text)
    return local_checkpoint(local, recorded)


def _run_digest(uri: str, tracking: Store) -> str:
    """The checkpoint SHA-256 that the run of a ``runs:/ID/...`` URI recorded, or ''."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    run_id = uri.removeprefix("runs:/").split("/")[0]
    try:
        run = MlflowClient(tracking_uri=tracking.driver_url).get_run(run_id)
    except MlflowException:
        return ""  # the download says what is missing
    return run.data.tags.get(CHECKPOINT_DIGEST_TAG, "")


def load_potential(
    path_or_uri: str | Path,
    tracking_uri: str | Store | None = None,
    device: str | None = None,
    dtype: str = "float32",
) -> PesweepCalculator:
    """The ASE calculator of a trained model: a checkpoint path or folder, ``models:/`` or ``runs:/``.

    ``device`` defaults to CUDA when available; ``dtype="float64"`` gives the
    smoothest dynamics. A registered version's checkpoint must match the
    SHA-256 its training recorded.
    """
    return PesweepCalculator.from_checkpoint(
        resolve_checkpoint(path_or_uri, tracking_uri), device=device, dtype=dtype
    )
