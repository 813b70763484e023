"""Promotion of trained checkpoints in the MLflow model registry, with lineage and rollback.

A version's source is the ``model`` artifact of the run that trained it
(``runs:/<run_id>/model``), an MLflow Model (:mod:`hpo.tracking.model_flavour`): MLflow's
``pyfunc`` loader and ``mlflow models serve`` take it, and so do
``pesweep.load_potential`` and ``pesweep finetune --from models:/NAME@ALIAS``
(:func:`hpo.tracking.model_uris.resolve_checkpoint`). Runs logged
before models were MLflow Models register their ``checkpoint`` folder. Every version
carries lineage tags: study, trial, parameters, data hash, test-split hash,
validation and test metrics, and the parent version when it was fine-tuned.

Moving an alias keeps the previous holder under ``<alias>-previous``;
:func:`rollback` swaps them back.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from optuna.trial import TrialState

from hpo.runtime.errors import PromotionError, StudyError
from hpo.study.trial_record import best_trial
from hpo.tracking.model_flavour import MODEL_ARTIFACT
from hpo.tracking.runs import ELEMENT_REFERENCES_TAG, tracking_client
from hpo.tracking.stores import Store, tracking_store
from lightning_modules.errors import CheckpointError
from lightning_modules.training.task import CHECKPOINT_DIGEST_TAG, verify_checkpoint

if TYPE_CHECKING:
    from lightning_modules.md import MDSpec

logger = logging.getLogger(__name__)

CHECKPOINT_FOLDER = "checkpoint"  # where runs logged before MLflow Models kept the checkpoint


def registry_client(tracking: str | Store | None) -> MlflowClient:
    """An MLflow client whose model registry lives in the same store as the runs."""
    return tracking_client(tracking_store(tracking))


MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$")
# an alias MLflow's model registry takes: letters, digits, '_' and '-', at most 255 characters;
# "latest" and the version names ("v3", any case) are its own
MAX_ALIAS_LENGTH = 255
ALIAS = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ALIAS_LENGTH}}}")
RESERVED_ALIAS = re.compile(r"latest|v[0-9]+", re.IGNORECASE)
PREVIOUS_SUFFIX = "-previous"  # the alias the holder's old version gets


def previous_alias(alias: str) -> str:
    """The alias an ``alias``'s former holder keeps (``<alias>-previous``)."""
    return f"{alias}{PREVIOUS_SUFFIX}"


def check_model_name(name: str) -> str:
    """A registered model name: letters, digits, '_', '.', '-' (MLflow's filters quote names)."""
    if not MODEL_NAME.match(name):
        raise PromotionError(
            f"model name {name!r} is not allowed: use letters, digits, '_', '.' and '-', "
            f"starting with a letter or digit"
        )
    return name


def check_alias(alias: str) -> str:
    """An alias MLflow takes, checked here by its rules (``ALIAS``, ``RESERVED_ALIAS``); the
    one the holder's old version gets (``PREVIOUS_SUFFIX``) must fit them too."""
    if not ALIAS.fullmatch(alias) or not ALIAS.fullmatch(previous_alias(alias)):
        raise PromotionError(
            f"alias {alias!r} is not allowed: use letters, digits, '_' and '-', at most "
            f"{MAX_ALIAS_LENGTH - len(PREVIOUS_SUFFIX)} characters"
        )
    if RESERVED_ALIAS.fullmatch(alias):  # never the "-previous" twin
        raise PromotionError(
            f"alias {alias!r} is not allowed: 'latest' and version names such as 'v3' are "
            f"MLflow's own; choose another name"
        )
    return alias


@dataclass
class Promotion:
    """What a promotion did."""

    name: str
    version: str
    alias: str
    moved: bool
    previous: str | None
    message: str


def lineage_tags(client: MlflowClient, run_id: str, extra: dict[str, Any]) -> dict[str, str]:
    """Tags of a version from its run: metrics, data hash, test-split hash, parameters."""
    run = client.get_run(run_id)
    tags = {
        "run_id": run_id,
        "data_hash": run.data.tags.get("pesweep.data_hash", ""),
        "split_hash": run.data.tags.get("pesweep.test_split_hash", ""),
        "params": json.dumps(dict(run.data.params))[:4000],
    }
    for name, value in run.data.metrics.items():
        if name.startswith(("test_", "best_val_")):
            tags[name] = repr(float(value))
    parent = run.data.tags.get("pesweep.parent_model_version")
    if parent:
        tags["parent_model_version"] = parent
    references = run.data.tags.get(ELEMENT_REFERENCES_TAG)
    if references:
        tags["element_references"] = references
    digest = run.data.tags.get(CHECKPOINT_DIGEST_TAG)
    if digest:
        tags["checkpoint_sha256"] = digest
    tags.update({k: str(v) for k, v in extra.items()})
    return tags


def _versions_of_run(client: MlflowClient, name: str, run_id: str) -> list[ModelVersion]:
    versions = client.search_model_versions(f"name='{check_model_name(name)}'")
    return sorted((v for v in versions if v.run_id == run_id), key=lambda v: int(v.version))


def _register_once(
    client: MlflowClient, name: str, run_id: str, tags: dict[str, str]
) -> ModelVersion:
    """The one version of ``name`` that registers ``run_id``, made here if there is none.

    Two promotions of one run at once may both create a version: the later
    one is deleted again, and both promotions go on with the first.
    """
    try:
        client.create_registered_model(name, description="pesweep interatomic potentials")
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    existing = _versions_of_run(client, name, run_id)
    if existing:
        return existing[0]
    mine = client.create_model_version(
        name, source=f"runs:/{run_id}/{_model_artifact(client, run_id)}", run_id=run_id, tags=tags
    )
    first = _versions_of_run(client, name, run_id)[0]
    if str(first.version) != str(mine.version):
        logger.info(
            "another promotion registered run %s first (version %s); using it",
            run_id,
            first.version,
        )
        client.delete_model_version(name, mine.version)
    return first


def verify_run_checkpoint(client: MlflowClient, run_id: str) -> None:
    """Refuse a run whose logged checkpoint is not the one its training recorded (SHA-256)."""
    recorded = client.get_run(run_id).data.tags.get(CHECKPOINT_DIGEST_TAG)
    if not recorded:  # a run logged before checkpoints were fingerprinted
        return
    with tempfile.TemporaryDirectory(prefix="pesweep-verify-") as folder:
        local = Path(client.download_artifacts(run_id, _model_artifact(client, run_id), folder))
        found = sorted(local.rglob("*.ckpt"))
        if not found:
            raise PromotionError(f"run {run_id} logged no checkpoint; nothing to register")
        try:
            verify_checkpoint(found[0], recorded, f"run {run_id}'s checkpoint")
        except CheckpointError as error:
            raise PromotionError(str(error)) from error


def _model_artifact(client: MlflowClient, run_id: str) -> str:
    """The run's MLflow Model folder, or the bare checkpoint folder of an older run."""
    logged = {artifact.path for artifact in client.list_artifacts(run_id)}
    if MODEL_ARTIFACT in logged or CHECKPOINT_FOLDER not in logged:
        return MODEL_ARTIFACT
    return CHECKPOINT_FOLDER


def _holder(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def promote_run(
    client: MlflowClient,
    run_id: str,
    name: str,
    alias: str = "pretrained",
    metric: str = "test_energy_mae_eV",
    require_better: bool = False,
    force: bool = False,
    extra_tags: dict[str, Any] | None = None,
    require_md: MDSpec | None = None,
) -> Promotion:
    """Register run ``run_id``'s checkpoint as a version of ``name`` and point ``alias`` at it.

    Idempotent: the same run is registered once. With ``require_better`` the
    alias moves only if the candidate's ``metric`` beats the holder's on the
    same data and test split (``force`` skips the comparison). With
    ``require_md`` the registered candidate first runs that MD stability check
    (:mod:`hpo.workflows.md_gate`, its run in the same store); its outcome is stored as
    tags of the version, and a FAIL leaves the alias where it was.
    """
    check_model_name(name)
    check_alias(alias)  # before anything is registered: a refused alias leaves no version
    candidate_tags = lineage_tags(client, run_id, extra_tags or {})
    holder = _holder(client, name, alias)
    if require_better and holder is not None and holder.run_id != run_id and not force:
        # both tested on the same data and test split, or not comparable
        if (holder.tags.get("split_hash"), holder.tags.get("data_hash")) != (
            candidate_tags["split_hash"],
            candidate_tags["data_hash"],
        ):
            raise PromotionError(
                f"{name}@{alias} (version {holder.version}) was tested on other data or another "
                f"test split; the two cannot be compared (--force promotes anyway)"
            )
        if metric not in candidate_tags or metric not in holder.tags:
            raise PromotionError(f"metric {metric!r} is missing on the candidate or the holder")
        new, old = float(candidate_tags[metric]), float(holder.tags[metric])
        if not new < old:
            raise PromotionError(
                f"candidate {metric} {new:.6g} does not beat {name}@{alias} (version "
                f"{holder.version}, {old:.6g}); the alias stays"
            )
    verify_run_checkpoint(client, run_id)  # before anything is registered
    version = _register_once(client, name, run_id, candidate_tags)
    if require_md is not None:
        _require_md_stability(client, name, str(version.version), run_id, require_md, alias)
    if holder is not None and str(holder.version) == str(version.version):
        return Promotion(
            name,
            str(version.version),
            alias,
            False,
            None,
            f"{name} version {version.version} already holds @{alias}",
        )
    if holder is not None:
        client.set_registered_model_alias(name, previous_alias(alias), holder.version)
    client.set_registered_model_alias(name, alias, version.version)
    return Promotion(
        name,
        str(version.version),
        alias,
        True,
        str(holder.version) if holder else None,
        f"{name} version {version.version} is now @{alias}"
        + (
            f" (previous holder {holder.version} kept as @{previous_alias(alias)})"
            if holder
            else ""
        ),
    )


def _require_md_stability(
    client: MlflowClient, name: str, version: str, run_id: str, spec: MDSpec, alias: str
) -> None:
    """Run the MD check on version ``version``; tag it with the outcome; raise on FAIL."""
    import tempfile
    from pathlib import Path

    from hpo.workflows.md_gate import run_md_check

    with tempfile.TemporaryDirectory(prefix="pesweep-md-") as folder:
        result = run_md_check(
            f"models:/{name}/{version}",
            spec,
            Path(folder),
            tracking_uri=client.tracking_uri,
            experiment=f"{name}-md-checks",
        )
    for key, value in result.tags().items():
        client.set_model_version_tag(name, version, key, value)
    if not result.report.passed:
        raise PromotionError(
            f"{name} version {version} failed the MD check, {result.summary()}; "
            f"@{alias} stays where it was (run {result.run_id} holds the trajectory)"
        )
    logger.info("%s version %s passed the MD check: %s", name, version, result.summary())


def promote_best_trial(
    study: Any,
    tracking_uri: str | Store | None,
    name: str,
    alias: str = "pretrained",
    metric: str = "test_energy_mae_eV",
    require_better: bool = False,
    force: bool = False,
    require_md: MDSpec | None = None,
) -> Promotion:
    """Promote the best trial of an Optuna study (single objective) by its MLflow run."""
    if len(study.directions) != 1:
        raise StudyError("promotion needs a single-objective study; pick a trial of the front")
    best = best_trial(study)
    if best is None:
        done = study.get_trials(False, states=(TrialState.COMPLETE,))
        why = f": all {len(done)} failed the --md-constraint MD check" if done else ""
        raise StudyError(f"study {study.study_name!r} has no feasible finished trial{why}")
    client = registry_client(tracking_uri)
    run_id = best.user_attrs.get("mlflow_run_id") or _synced_run(client, study, best.number)
    if not run_id:
        raise StudyError(
            f"trial {best.number} has no MLflow run to promote; pesweep sync --study "
            f"{study.study_name} writes the runs a tracking outage left out"
        )
    return promote_run(
        client,
        run_id,
        name,
        alias,
        metric,
        require_better,
        force,
        {"study": study.study_name, "trial_number": best.number},
        require_md,
    )


def _synced_run(client: MlflowClient, study: Any, number: int) -> str | None:
    """The run that ``pesweep sync`` made for trial ``number`` (a finished trial cannot record
    it: Optuna keeps a finished trial's attributes as they were), found by its tags."""
    from hpo.study.setup import stored_setup
    from hpo.tracking.runs import STUDY_UID_TAG

    setup = stored_setup(study)
    if setup is None:
        return None
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`optuna.trial_number` = '{number}' and "
        f"tags.`{STUDY_UID_TAG}` = '{setup.study_uid}'",
    )
    return runs[0].info.run_id if runs else None


def rollback(tracking_uri: str | Store | None, name: str, alias: str = "pretrained") -> Promotion:
    """Swap ``alias`` and ``<alias>-previous`` (a second rollback undoes the first)."""
    client = registry_client(tracking_uri)
    current, previous = _holder(client, name, alias), _holder(client, name, previous_alias(alias))
    if previous is None or current is None:
        raise PromotionError(f"{name} has no @{previous_alias(alias)} to roll back to")
    client.set_registered_model_alias(name, alias, previous.version)
    client.set_registered_model_alias(name, previous_alias(alias), current.version)
    return Promotion(
        name,
        str(previous.version),
        alias,
        True,
        str(current.version),
        f"{name}@{alias} rolled back to version {previous.version} "
        f"(version {current.version} is now @{previous_alias(alias)})",
    )


def describe_models(
    tracking_uri: str | Store | None, name: str | None = None
) -> list[dict[str, Any]]:
    """Registered versions with aliases and metrics (all models, or one by name)."""
    tracking = tracking_store(tracking_uri)
    client = registry_client(tracking)
    filter_string = f"name='{check_model_name(name)}'" if name else ""
    rows = []
    for version in client.search_model_versions(filter_string):
        model = client.get_registered_model(version.name)
        aliases = [a for a, v in (model.aliases or {}).items() if str(v) == str(version.version)]
        rows.append(
            {
                "name": version.name,
                "version": int(version.version),
                "aliases": aliases,
                "run_id": version.run_id,
                "parent": version.tags.get("parent_model_version", ""),
                "metrics": {
                    k: float(v)
                    for k, v in version.tags.items()
                    if k.startswith(("test_", "best_val_"))
                },
                "tags": dict(version.tags),
            }
        )
    if name and not rows:
        raise PromotionError(f"no registered model {name!r} at {tracking}")
    return sorted(rows, key=lambda r: (r["name"], r["version"]))


def lineage(row: dict[str, Any], versions: dict[str, dict[str, Any]]) -> list[str]:
    """``NAME/VERSION`` of a version, its parent, the parent's parent, ..., back to the first.

    ``versions`` holds every registered version by ``NAME/VERSION``
    (:func:`describe_models`); a parent that is no registered version (a
    checkpoint path, a run) ends the list as it was recorded.
    """
    chain = [f"{row['name']}/{row['version']}"]
    parent = row.get("parent", "")
    while parent and parent not in chain:
        chain.append(parent)
        parent = versions[parent].get("parent", "") if parent in versions else ""
    return chain
