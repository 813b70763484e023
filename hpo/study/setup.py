"""Optuna studies that remember their whole set-up, so a name alone resumes (or joins) them.

Storage defaults to a SQLite file in the working directory; any Optuna
storage URL works (PostgreSQL for studies shared by many workers). The set-up
(space file content, data paths and file hashes, energy unit, epochs, seed,
sampler, pruner, objectives, MLflow tracking URI and parent run) is kept in
the study's user attributes. What a resume may change is one table,
:data:`hpo.study.resume.RESUME_POLICY`: a conflicting space, data, energy
unit, epoch budget, seed, objectives, training settings, starting model or
MD check is refused with the difference named.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

from hpo.runtime.errors import StudyError
from hpo.study.registries import OBJECTIVES
from hpo.study.resume import BINDING_FIELDS, resume_conflicts
from hpo.study.retries import DEFAULT_HEARTBEAT, Heartbeat
from hpo.study.sqlite_journal import use_write_ahead_log
from hpo.tracking.stores import Store, creation_lock, mask_text, optuna_storage

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

SETUP_ATTR = "pesweep_setup"
PARENT_RUN_ATTR = "mlflow_parent_run_id"  # the sweep's MLflow parent run
EXPERIMENT_ATTR = "mlflow_experiment"  # the MLflow experiment of its runs


@dataclass(frozen=True)
class StudySetup:
    """Everything that defines a study; stored as a user attribute of the Optuna study."""

    space_text: str
    space_origin: str
    data: tuple[str, ...]
    data_hashes: tuple[str, ...]
    energy_unit: str
    max_epochs: int
    seed: int
    sampler: str
    pruner: str
    objectives: tuple[str, ...]
    tracking_uri: str
    train_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    init_from: str = ""  # a pretrained model every trial starts from (fine-tuning sweeps)
    study_uid: str = ""  # unique per study: keys its runs folder and MLflow experiment
    md_spec: dict[str, Any] = dataclasses.field(default_factory=dict)  # the trials' MD check
    md_constraint: bool = False  # a trial whose model fails the MD check is infeasible

    def folder_name(self, study_name: str) -> str:
        """The study's folder under ``--runs-dir``: its name made path-safe, plus its uid.

        Two studies of one name in different storages get different folders, and
        no study name (``../../x``) reaches outside the runs folder.
        """
        return f"{safe_name(study_name)[:80]}-{self.study_uid[:8]}"

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        for key in ("data", "data_hashes", "objectives"):
            values[key] = list(values[key])
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StudySetup:
        values = dict(values)
        for key in ("data", "data_hashes", "objectives"):
            values[key] = tuple(values[key])
        return cls(**values)


def requested_fields(setup: StudySetup) -> dict[str, Any]:
    """The binding fields of a whole requested set-up (a resume that gave space and data)."""
    return {name: getattr(setup, name) for name in BINDING_FIELDS}


def safe_name(study_name: str) -> str:
    """A study's name as letters, digits, ``_`` and ``-`` only (for file and job names)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", study_name).strip("_") or "study"


def new_study_uid() -> str:
    """A fresh identifier for a study (hex, 32 characters)."""
    return uuid.uuid4().hex


SQLITE_BUSY_SECONDS = 60  # local workers wait for each other's writes, never "database is locked"


CONNECT_SECONDS = 5  # a database server's connect timeout (libpq's connect_timeout)


def connect_storage(
    url: str | Store | None,
    attempts: int = 4,
    heartbeat: Heartbeat = DEFAULT_HEARTBEAT,
    on_stale_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url`` (:func:`hpo.tracking.stores.optuna_storage`: None is
    ``$PESWEEP_STORAGE``, else local SQLite), or a one-line :class:`StudyError` when it
    cannot be opened.

    Workers started together on an empty PostgreSQL database race to create
    Optuna's tables; the losers retry once the winner has made them. The
    heartbeat lets the next worker fail the trials of a dead one after the
    grace period, and call ``on_stale_trial`` for each (:mod:`hpo.study.retries`).
    Processes on one SQLite file wait up to a minute for each other's writes,
    and a file on a local disk uses SQLite's write-ahead log
    (:mod:`hpo.study.sqlite_journal`).
    """
    store = optuna_storage(url)
    engine_url = store.driver_url
    database = store.local_file
    server = store.is_database_server
    engine_kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}} if database is not None else {}
    )
    if server:  # a host that takes the connection but never answers is given up on
        engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_SECONDS}}
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings(), creation_lock(store):
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = RDBStorage(
                    engine_url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat.interval,
                    grace_period=heartbeat.grace_period,
                    heartbeat_stale_trial_callback=on_stale_trial,
                )
            if database is not None:
                use_write_ahead_log(storage.engine, database)
            return storage
        except Exception as error:  # sqlalchemy raises many kinds for dead or malformed databases
            if attempt + 1 < attempts and _is_schema_race(error):
                time.sleep(1.0 + attempt)
                continue
            text = str(error).strip()
            reason = mask_text(text.splitlines()[0] if text else type(error).__name__, store.uri)
            waited = (
                f"; no answer within the {CONNECT_SECONDS} s connect timeout"
                if (server and "timeout" in text.lower())
                else ""
            )
            raise StudyError(
                f"cannot open the study storage {store} ({reason}{waited}); start the "
                f"database or check --storage"
            ) from error
    raise AssertionError("unreachable")


def storage_exists(url: str | Store | None) -> bool:
    """False only for a ``sqlite:///`` storage whose file is not there (nothing to read)."""
    return optuna_storage(url).missing_file is None


def peek_setup(name: str, url: str | Store | None) -> StudySetup | None:
    """The stored set-up of study ``name``, or None when there is no such study; creates nothing."""
    if not storage_exists(url):
        return None
    try:
        study = optuna.load_study(study_name=name, storage=connect_storage(url))
    except KeyError:
        return None
    return stored_setup(study)


def load_study_to_read(name: str, storage: str | Store | None) -> optuna.Study:
    """Study ``name`` for a command that reads it (report, sync), or a one-line error; makes nothing."""
    storage = optuna_storage(storage).require_existing(
        "study storage", "pass --storage with the URL the sweep used"
    )
    try:
        return optuna.load_study(study_name=name, storage=connect_storage(storage))
    except KeyError as error:
        raise StudyError(
            f"no study {name!r} in {storage}; pass --storage with the URL the sweep used"
        ) from error


def _is_schema_race(error: Exception) -> bool:
    text = str(error)
    return "UniqueViolation" in text or "already exists" in text or "duplicate key" in text


def stored_setup(study: optuna.Study) -> StudySetup | None:
    values = study.user_attrs.get(SETUP_ATTR)
    return StudySetup.from_dict(values) if values else None


def open_study(
    name: str,
    storage: str | Store | None,
    setup: StudySetup | None,
    heartbeat: Heartbeat = DEFAULT_HEARTBEAT,
    on_stale_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
) -> tuple[optuna.Study, StudySetup, bool]:
    """Create study ``name`` or resume it; returns (study, its set-up, created).

    With ``setup`` None the study must exist and its stored set-up is used (a
    missing SQLite file is not created). A study made before studies had a uid
    gets one. The caller assigns ``study.sampler`` and ``study.pruner``. The
    storage keeps a heartbeat (see :func:`connect_storage`).
    """
    storage = optuna_storage(storage)
    if setup is None and storage.missing_file is not None:
        raise StudyError(
            f"no study {name!r}: there is no storage at {storage.missing_file}; give --space "
            f"and --data to create it, or --storage to find it"
        )
    backend = connect_storage(storage, heartbeat=heartbeat, on_stale_trial=on_stale_trial)
    try:
        existing = optuna.load_study(study_name=name, storage=backend)
    except KeyError:
        existing = None
    if existing is not None:
        stored = stored_setup(existing)
        if stored is None and not existing.trials:  # created a moment ago by another worker?
            return _join_new_study(name, storage, backend, setup)
        if stored is None:
            raise StudyError(
                f"study {name!r} in {storage} was not made by pesweep (no set-up "
                f"recorded); choose another --study name"
            )
        if setup is not None:
            conflicts = resume_conflicts(stored, requested_fields(setup))
            if conflicts:
                raise StudyError(
                    f"cannot resume study {name!r}: {'; '.join(conflicts)}; use a new --study "
                    f"name, or resume with the stored set-up (pesweep sweep --study {name})"
                )
        if not stored.study_uid:
            stored = dataclasses.replace(stored, study_uid=new_study_uid())
            existing.set_user_attr(SETUP_ATTR, stored.to_dict())
        return existing, stored, False
    if setup is None:
        raise StudyError(f"no study {name!r} in {storage}; give --space and --data to create it")
    directions = [
        optuna.study.StudyDirection.MAXIMIZE
        if OBJECTIVES[objective].maximise
        else optuna.study.StudyDirection.MINIMIZE
        for objective in setup.objectives
    ]
    try:
        study = optuna.create_study(study_name=name, storage=backend, directions=directions)
    except optuna.exceptions.DuplicatedStudyError:
        # another worker created it a moment ago: join it once its set-up is written
        return _join_new_study(name, storage, backend, setup)
    with warnings.catch_warnings():  # experimental since Optuna 3.2; not the user's concern
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([OBJECTIVES[name].metric for name in setup.objectives])
    study.set_user_attr(SETUP_ATTR, setup.to_dict())
    return study, setup, True


def _join_new_study(
    name: str,
    storage: Store,
    backend: optuna.storages.BaseStorage,
    setup: StudySetup | None,
    wait_seconds: float = 30.0,
) -> tuple[optuna.Study, StudySetup, bool]:
    """Join a study another worker has just created, once its set-up is written."""
    deadline = time.monotonic() + wait_seconds
    while True:
        study = optuna.load_study(study_name=name, storage=backend)
        stored = stored_setup(study)
        if stored is not None:
            conflicts = resume_conflicts(stored, requested_fields(setup)) if setup else []
            if conflicts:
                raise StudyError(f"cannot join study {name!r}: {'; '.join(conflicts)}")
            return study, stored, False
        if time.monotonic() > deadline:
            raise StudyError(
                f"study {name!r} in {storage} was created without a pesweep set-up; "
                f"choose another --study name"
            )
        time.sleep(0.5)
