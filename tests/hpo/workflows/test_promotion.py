"""Promotion in the MLflow registry: load via alias, require-better, rollback, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState

import pesweep
from hpo.runtime.errors import PromotionError
from hpo.study.trial_record import trial_result
from hpo.sweep.runner import run_sweep
from hpo.workflows.promotion import (
    describe_models,
    promote_best_trial,
    promote_run,
    registry_client,
    rollback,
)
from lightning_modules import keys
from lightning_modules.batching.batches import atoms_to_batch
from lightning_modules.data.emt_data import emt_clusters
from lightning_modules.training.task import load_task


@pytest.fixture
def study(sweep_options):
    return run_sweep(sweep_options(n_trials=3))


def test_promote_then_load_by_alias_predicts_like_the_trial(study) -> None:
    promotion = promote_best_trial(study.study, study.tracking, "cuau")
    assert promotion.moved and promotion.version == "1"
    best = study.study.best_trial
    atoms = emt_clusters(n_structures=1, seed=30)[0]
    calc = pesweep.load_potential(
        "models:/cuau@pretrained", tracking_uri=study.tracking, dtype="float64"
    )
    model = load_task(trial_result(best)["checkpoint_path"]).model.double()
    batch = atoms_to_batch(atoms.numbers, atoms.positions, model.cutoff, dtype=torch.float64)
    expected = model(batch)[keys.ENERGY].item()
    atoms.calc = calc
    assert atoms.get_potential_energy() == pytest.approx(expected, abs=1e-9)
    [row] = describe_models(study.tracking, "cuau")
    assert row["aliases"] == ["pretrained"]
    assert row["tags"]["study"] == "test-study"
    assert row["tags"]["trial_number"] == str(best.number)
    assert float(row["tags"]["test_energy_mae_eV"]) == pytest.approx(
        trial_result(best)["test_metrics"]["test_energy_mae_eV"], rel=1e-6
    )
    again = promote_best_trial(study.study, study.tracking, "cuau")
    assert not again.moved and again.version == "1"  # idempotent
    assert len(describe_models(study.tracking, "cuau")) == 1


def test_require_better_refuses_a_worse_candidate_and_rollback_restores(study) -> None:
    client = registry_client(study.tracking)
    finished = sorted(
        (t for t in study.study.trials if t.state == TrialState.COMPLETE),
        key=lambda t: trial_result(t)["test_metrics"]["test_energy_mae_eV"],
    )
    best, worst = finished[0], finished[-1]
    promote_run(client, worst.user_attrs["mlflow_run_id"], "cuau")
    moved = promote_run(client, best.user_attrs["mlflow_run_id"], "cuau", require_better=True)
    assert moved.moved and moved.previous == "1"
    with pytest.raises(PromotionError, match="does not beat"):
        promote_run(client, worst.user_attrs["mlflow_run_id"], "cuau", require_better=True)
    assert str(client.get_model_version_by_alias("cuau", "pretrained").version) == moved.version
    back = rollback(study.tracking, "cuau")
    assert back.version == "1"
    assert str(client.get_model_version_by_alias("cuau", "pretrained").version) == "1"
    assert str(client.get_model_version_by_alias("cuau", "pretrained-previous").version) == "2"


def test_unknown_model_is_a_clear_error(study) -> None:
    with pytest.raises(FileNotFoundError, match="not in the registry"):
        pesweep.load_potential("models:/nothing@pretrained", tracking_uri=study.tracking)


def test_a_checkpoint_changed_after_its_trial_is_neither_registered_nor_loaded(
    study, tmp_path, monkeypatch
) -> None:
    from mlflow import MlflowClient

    from hpo.workflows.report import collect_report_data
    from lightning_modules.errors import CheckpointError

    best = study.study.best_trial
    recorded = trial_result(best)
    assert len(recorded["checkpoint_sha256"]) == 64
    client = MlflowClient(study.tracking.uri)
    run = client.get_run(best.user_attrs["mlflow_run_id"])
    assert run.data.tags["pesweep.checkpoint_sha256"] == recorded["checkpoint_sha256"]
    [logged] = list(Path(run.info.artifact_uri.removeprefix("file://")).rglob("*.ckpt"))
    original = logged.read_bytes()

    logged.write_bytes(original + b"tampered")  # the copy MLflow would register
    with pytest.raises(PromotionError, match="changed after its training finished"):
        promote_best_trial(study.study, study.tracking, "cuau")
    with pytest.raises(PromotionError, match="no registered model 'cuau'"):
        describe_models(study.tracking, "cuau")  # nothing registered

    logged.write_bytes(original)
    promote_best_trial(study.study, study.tracking, "cuau")
    logged.write_bytes(original + b"tampered")  # changed after its promotion
    monkeypatch.setenv("PESWEEP_CACHE_DIR", str(tmp_path / "fresh-cache"))
    with pytest.raises(CheckpointError, match="changed after its training finished"):
        pesweep.load_potential("models:/cuau@pretrained", tracking_uri=study.tracking)

    local = Path(recorded["checkpoint_path"])
    local.write_bytes(local.read_bytes() + b"tampered")  # the trial's own best.ckpt
    report = collect_report_data(study.study)
    assert any("changed after its training finished" in note for note in report.notes)


def test_an_alias_mlflow_rejects_is_refused_before_anything_is_registered(study) -> None:
    # the last: its "-previous" twin would exceed MLflow's 255 characters
    for alias in ("../x", "latest", "v3", "V3", "", "a b", "a" * 247):
        with pytest.raises(PromotionError, match=f"alias {alias!r} is not allowed"):
            promote_best_trial(study.study, study.tracking, "cuau", alias=alias)
    with pytest.raises(PromotionError, match="no registered model 'cuau'"):
        describe_models(study.tracking, "cuau")


def test_an_alias_at_the_limit_is_one_mlflow_takes_for_both_holders(study) -> None:
    """The rules pesweep checks are MLflow's: its registry takes the longest alias allowed,
    and its "-previous" twin when the alias moves (checked here without MLflow's own code)."""
    alias = "best_v2-" + "a" * 238  # 246 characters
    first = promote_best_trial(study.study, study.tracking, "cuau", alias=alias)
    assert first.alias == alias
    client = registry_client(study.tracking)
    assert str(client.get_model_version_by_alias("cuau", alias).version) == first.version
    client.set_registered_model_alias("cuau", f"{alias}-previous", first.version)  # MLflow's check
