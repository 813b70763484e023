"""Sweeps end to end: Optuna storage and MLflow runs agree; pruning, resume, failures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState
from optuna_dashboard import get_note

from hpo.runtime.errors import StudyError
from hpo.study.trial_record import RESULT_ATTR, RESULT_KEYS, trial_result
from hpo.sweep.runner import run_sweep
from lightning_modules.data.splits import load_split
from lightning_modules.training.metrics import metric_unit
from search_spaces.space import load_space
from search_spaces.suggest import suggest


def trial_runs(client: MlflowClient, outcome) -> list:
    experiment = client.get_experiment_by_name(outcome.study.study_name)
    return client.search_runs(
        [experiment.experiment_id], filter_string="tags.`pesweep.kind` = 'trial'"
    )


def test_three_trials_are_three_nested_runs(sweep_options) -> None:
    outcome = run_sweep(sweep_options())
    trials = outcome.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    client = MlflowClient(outcome.tracking.uri)
    runs = {run.info.run_id: run for run in trial_runs(client, outcome)}
    assert len(runs) == 3
    parent = client.get_run(outcome.parent_run_id)
    assert parent.data.tags["pesweep.kind"] == "study"
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # runs view
    assert parent.data.metrics["n_trials_complete"] == 3
    for trial in trials:
        run = runs[trial.user_attrs["mlflow_run_id"]]
        assert run.data.tags["mlflow.parentRunId"] == outcome.parent_run_id
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
        assert run.info.status == "FINISHED"
        for name, value in trial.params.items():
            assert (
                run.data.params[name] == str(value).lower()
                if isinstance(value, bool)
                else float(run.data.params[name]) == pytest.approx(value)
            )
        assert run.data.metrics["best_val_energy_mae_eV"] == pytest.approx(trial.value, rel=1e-6)
        for name, value in trial_result(trial)["test_metrics"].items():
            assert run.data.metrics[name] == pytest.approx(value, rel=1e-6)
        assert run.data.metrics["n_params"] == trial_result(trial)["n_params"]
        history = client.get_metric_history(run.info.run_id, "val_energy_mae_eV")
        assert [m.step for m in history] == [0, 1]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"model", "split.npz", "config.yaml", "audit.json"} <= artifacts
        assert trial_result(trial)["train_seconds"] > 0
        # one storage write for the results: no attribute per number
        assert not set(RESULT_KEYS) & set(trial.user_attrs)
        assert set(trial.user_attrs[RESULT_ATTR]) == set(RESULT_KEYS)
        metas = get_all_artifact_meta(trial, storage=outcome.study._storage)
        assert {meta.filename for meta in metas} == {"parity.svg", "learning_curve.svg"}
        figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
        assert figures == {"figures/parity.svg", "figures/learning_curve.svg"}  # on the run page
        assert run.data.tags["optuna.state"] == "COMPLETE"
        # "Created by" and "Source" of the MLflow UI: MLflow's own context tags
        assert run.data.tags["mlflow.user"]
        assert run.data.tags["mlflow.source.type"] == "LOCAL"
        assert run.data.tags["mlflow.source.name"]
        [dataset] = run.inputs.dataset_inputs  # the run page's "Datasets"
        assert dataset.dataset.name == Path(outcome.setup.data[0]).name
        assert json.loads(dataset.dataset.source)["uri"] == outcome.setup.data[0]
        profile = json.loads(dataset.dataset.profile)
        assert profile == {"num_structures": 60, "elements": ["Cu", "Au"]}
        assert {tag.key: tag.value for tag in dataset.tags} == {"mlflow.data.context": "training"}
        note = get_note(optuna.Trial(outcome.study, trial._trial_id))  # as the dashboard reads it
        assert trial.user_attrs["mlflow_run_id"] in note


def test_a_sweep_prepares_its_data_once_and_computes_pairs_once_per_cutoff(
    sweep_options, monkeypatch
) -> None:
    """Trials and their evaluation share one prepared data set: one audit, one reference fit."""
    import lightning_modules.batching.data_cache as data_cache_module
    import lightning_modules.training.prepared as prepared_module

    audits, fits, pairs = [], [], []

    def counting(target, name, log):
        original = getattr(target, name)

        def wrapper(*args, **kwargs):
            log.append(args[1] if name == "dataset_pairs" else 1)
            return original(*args, **kwargs)

        monkeypatch.setattr(target, name, wrapper)

    counting(prepared_module, "audit_energies", audits)
    counting(prepared_module, "fit_energy_reference", fits)
    counting(data_cache_module, "dataset_pairs", pairs)
    outcome = run_sweep(sweep_options(n_trials=4))
    assert [t.state for t in outcome.study.trials] == [TrialState.COMPLETE] * 4
    cutoffs = {t.params["cutoff"] for t in outcome.study.trials}
    assert len(audits) == 1 and len(fits) == 1
    assert sorted(pairs) == sorted(cutoffs)  # one neighbour list per cutoff, evaluation included


def test_artifacts_live_beside_the_sqlite_store_not_in_the_working_dir(
    sweep_options, tmp_path, monkeypatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    outcome = run_sweep(sweep_options(n_trials=1))
    run_id = outcome.study.trials[0].user_attrs["mlflow_run_id"]
    artifact_uri = MlflowClient(outcome.tracking.uri).get_run(run_id).info.artifact_uri
    assert artifact_uri.startswith((tmp_path / "mlruns" / "test-study").as_uri())
    assert (tmp_path / "mlruns" / "test-study" / run_id / "artifacts" / "split.npz").is_file()
    assert list(elsewhere.iterdir()) == []


def test_rerunning_adds_trials_to_the_same_study(sweep_options) -> None:
    first = run_sweep(sweep_options(n_trials=2))
    again = run_sweep(sweep_options(n_trials=2))
    assert not again.created
    assert len(again.study.trials) == 4
    assert again.parent_run_id == first.parent_run_id
    # the name alone resumes it, with the stored set-up
    by_name = run_sweep(sweep_options(space=None, data=None, n_trials=1))
    assert len(by_name.study.trials) == 5
    assert len({tuple(sorted(t.params.items())) for t in by_name.study.trials}) >= 4


def test_aggressive_pruner_prunes_and_the_run_is_killed(sweep_options) -> None:
    outcome = run_sweep(
        sweep_options(
            n_trials=2, max_epochs=3, pruner_override=optuna.pruners.ThresholdPruner(upper=1e-6)
        )
    )
    pruned = [t for t in outcome.study.trials if t.state == TrialState.PRUNED]
    assert pruned
    client = MlflowClient(outcome.tracking.uri)
    run = client.get_run(pruned[0].user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED"
    # KILLED alone does not tell a pruned trial from an interrupted one: the Optuna state does
    states = {
        r.data.tags["optuna.trial_number"]: r.data.tags["optuna.state"]
        for r in trial_runs(client, outcome)
    }
    assert states == {str(t.number): t.state.name for t in outcome.study.trials}
    assert client.search_runs(
        [run.info.experiment_id], filter_string="tags.`optuna.state` = 'PRUNED'"
    )
    last_step = max(pruned[0].intermediate_values)
    history = client.get_metric_history(run.info.run_id, "val_energy_mae_eV")
    assert history[-1].step == last_step
    assert history[-1].value == pytest.approx(pruned[0].intermediate_values[last_step], rel=1e-6)
    # a pruned trial's run shows its data and its learning curve, as a finished one does
    assert [i.dataset.name for i in run.inputs.dataset_inputs] == ["cuau60.xyz"]
    assert "figures/learning_curve.svg" in {
        a.path for a in client.list_artifacts(run.info.run_id, "figures")
    }


def test_a_sampler_override_chooses_the_trials(sweep_options, tiny_space) -> None:
    outcome = run_sweep(
        sweep_options(
            n_trials=2, max_epochs=1, sampler_override=optuna.samplers.RandomSampler(seed=7)
        )
    )
    space = load_space(tiny_space)

    def sampled(study: optuna.Study) -> dict:
        trial = study.ask()
        suggest(trial, space)
        return trial.params

    expected = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    assert [t.params for t in outcome.study.trials] == [sampled(expected), sampled(expected)]
    default = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    assert outcome.study.trials[0].params != sampled(default)  # not the --seed 0 sampler


def test_diverging_trial_fails_with_reason_and_the_sweep_goes_on(sweep_options, tmp_path) -> None:
    space = tmp_path / "nan.yaml"
    space.write_text("""
model: schnet
params:
  lr: {type: categorical, choices: [1.0e+12, 1.0e-3]}
  optimizer: sgd
  n_atom_basis: 8
  n_interactions: 1
  n_rbf: 8
  cutoff: 4.0
""")
    outcome = run_sweep(sweep_options(space=str(space), sampler="grid", n_trials=2))
    states = {t.params["lr"]: t for t in outcome.study.trials}
    assert states[1e12].state == TrialState.FAIL
    assert "training loss became nan" in states[1e12].user_attrs["fail_reason"]
    assert states[1e-3].state == TrialState.COMPLETE
    run = MlflowClient(outcome.tracking.uri).get_run(states[1e12].user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert "nan" in run.data.tags["fail_reason"]


def test_duplicate_parameters_reuse_the_stored_result(sweep_options) -> None:
    first = run_sweep(sweep_options(n_trials=1))
    original = first.study.trials[0]
    first.study.enqueue_trial(original.params)
    again = run_sweep(sweep_options(n_trials=1))
    repeat = again.study.trials[1]
    assert repeat.user_attrs["duplicate_of"] == original.number
    assert repeat.value == original.value
    assert len(trial_runs(MlflowClient(again.tracking.uri), again)) == 1


def test_multi_objective_gives_a_pareto_front(sweep_options) -> None:
    outcome = run_sweep(sweep_options(objectives=("energy_mae", "n_params"), n_trials=3))
    assert len(outcome.study.directions) == 2
    front = outcome.study.best_trials
    assert front
    for trial in front:
        assert trial.values[1] == trial_result(trial)["n_params"]
        assert math.isfinite(trial.values[0])


def test_resume_with_other_space_is_refused(sweep_options, tmp_path) -> None:
    run_sweep(sweep_options(n_trials=1))
    other = tmp_path / "other.yaml"
    other.write_text("model: schnet\nparams:\n  n_atom_basis: {type: categorical, choices: [8]}\n")
    with pytest.raises(StudyError, match="the search space differs"):
        run_sweep(sweep_options(space=str(other)))
    with pytest.raises(StudyError, match="--max-epochs is 2 in the study, 5 now"):
        run_sweep(sweep_options(space=None, data=None, max_epochs=5))


def test_dead_storage_is_one_clear_error(sweep_options, tmp_path) -> None:
    with pytest.raises(StudyError, match="cannot open the study storage"):
        run_sweep(sweep_options(storage="postgresql://nobody@127.0.0.1:1/none"))


@pytest.mark.parametrize(
    ("alpha", "overrides", "warnings"),
    [
        ("{type: float, low: 0.1, high: 0.7}", {}, 1),
        ("{type: float, low: 0.1, high: 0.7}", {"ranking_alpha": 0.1}, 0),  # --loss-alpha 0.1
        ("{type: float, low: 0.1, high: 0.7}\n  ranking_alpha: 0.1", {}, 0),  # or in the space
        ("0.3", {}, 0),
    ],
)
def test_the_loss_objective_warns_when_the_space_samples_its_weight(
    sweep_options, tmp_path, caplog, alpha, overrides, warnings
) -> None:
    space = tmp_path / "weighted.yaml"
    tiny = (tmp_path / "tiny.yaml").read_text()
    space.write_text(tiny.replace("batch_size: 20", f"batch_size: 20\n  alpha: {alpha}"))
    with caplog.at_level("WARNING", logger="hpo.sweep.runner"):
        outcome = run_sweep(
            sweep_options(
                space=str(space),
                objectives=("loss",),
                n_trials=1,
                max_epochs=1,
                train_overrides=overrides,
            )
        )
    warned = [r.getMessage() for r in caplog.records if "objective 'loss'" in r.getMessage()]
    assert len(warned) == warnings
    assert all("give --loss-alpha W to rank every trial at one weight" in w for w in warned)
    assert outcome.study.trials[0].state == TrialState.COMPLETE


def test_one_study_compares_model_families(sweep_options) -> None:
    outcome = run_sweep(sweep_options(space="families", n_trials=6, seed=1))
    families = {t.params["model"] for t in outcome.study.trials if t.state == TrialState.COMPLETE}
    assert families == {"schnet", "aenet"}
    for trial in outcome.study.trials:
        own = {"schnet": "n_atom_basis", "aenet": "radial_order"}[trial.params["model"]]
        other = {"schnet": "radial_order", "aenet": "n_atom_basis"}[trial.params["model"]]
        assert own in trial.params and other not in trial.params
    metric_names = {tuple(trial_result(t)["test_metrics"]) for t in outcome.study.trials}
    assert len(metric_names) == 1  # same metrics for both families
    test_sets = {
        tuple(load_split(Path(trial_result(t)["checkpoint_path"]).parent / "split.npz")["test"])
        for t in outcome.study.trials
    }
    assert len(test_sets) == 1  # and the same split


@pytest.mark.parametrize("sampling_interval", ["0.2", "600"])
def test_system_metrics_are_logged_into_each_trial_run(
    sweep_options, monkeypatch, sampling_interval
) -> None:
    # MLflow's own setting; a trial far shorter than 600 s still gets its samples
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", sampling_interval)
    outcome = run_sweep(sweep_options(n_trials=1, max_epochs=4, system_metrics=True))
    client = MlflowClient(outcome.tracking.uri)
    [run] = trial_runs(client, outcome)
    assert "system/cpu_utilization_percentage" in run.data.metrics
    assert "system/system_memory_usage_megabytes" in run.data.metrics
    without = run_sweep(sweep_options(study_name="plain", n_trials=1, max_epochs=1))
    [plain] = trial_runs(client, without)
    assert not any(name.startswith("system/") for name in plain.data.metrics)


def test_system_metrics_without_psutil_is_refused_before_anything_is_made(
    sweep_options, monkeypatch, tmp_path
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psutil" else real(name, *a)
    )
    with pytest.raises(StudyError, match=r"--system-metrics needs psutil.*\[system-metrics\]"):
        run_sweep(sweep_options(system_metrics=True))
    assert not (tmp_path / "optuna.db").exists()


UNITLESS = {"train_loss", "val_loss", "best_val_loss", "test_loss", "lr", "n_params"}
UNIT_IN_NAME = {"train_seconds", "inference_ms_per_structure"}


def test_every_metric_name_carries_its_unit(sweep_options) -> None:
    outcome = run_sweep(sweep_options(n_trials=1))
    assert outcome.study.metric_names == ["val_energy_mae_eV"]  # optuna-dashboard's axis
    client = MlflowClient(outcome.tracking.uri)
    [run] = trial_runs(client, outcome)
    names = set(run.data.metrics)
    assert {
        "val_energy_mae_eV",
        "test_energy_mae_meV_per_atom",
        "test_force_rmse_eV_per_A",
    } <= names
    assert "test_energy_mae_eV_clean" in names and "best_val_energy_mae_eV" in names
    without_unit = {
        name
        for name in names - UNITLESS - UNIT_IN_NAME
        if metric_unit(name) is None and not name.startswith("n_trials_")
    }
    assert not without_unit
    assert metric_unit("test_energy_rmse_meV_per_atom_clean") == "meV/atom"
    assert metric_unit("val_force_mae_eV_per_A") == "eV/A"
    assert metric_unit("val_energy_mae_eV_outliers") == "eV"
    assert metric_unit("train_loss") is None
    assert set(trial_result(outcome.study.trials[0])["test_metrics"]) <= names
    parent = client.get_run(outcome.parent_run_id)
    assert "best_val_energy_mae_eV" in parent.data.metrics


def test_a_multi_objective_study_names_each_objective_with_its_unit(sweep_options) -> None:
    outcome = run_sweep(
        sweep_options(objectives=("energy_mae", "inference_time"), n_trials=1, max_epochs=1)
    )
    assert outcome.study.metric_names == ["val_energy_mae_eV", "inference_ms_per_structure"]


def test_trials_collect_their_own_garbage_with_what_came_before_frozen(sweep_options) -> None:
    """A full collection after each trial went over every object of the imports (0.6 s a
    trial); the sweep freezes those, and a trial's cyclic garbage is still collected."""
    import gc
    import weakref

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    seen: list[tuple[int, bool]] = []
    left: list[weakref.ref] = []

    def callback(study, trial) -> None:  # runs after each trial's collection
        seen.append((gc.get_freeze_count(), bool(left) and left[-1]() is not None))
        cycle = Cycle()
        left.append(weakref.ref(cycle))
        del cycle  # garbage only a collection finds

    gc.unfreeze()
    run_sweep(sweep_options(n_trials=2, callbacks=(callback,)))
    assert [frozen > 0 for frozen, _ in seen] == [True, True]
    assert [alive for _, alive in seen] == [False, False]  # trial 1's cycle was gone at trial 2
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(
    ("pruner", "batch", "warned"),
    [
        ("successive-halving", "20", 3),  # 48 training structures: 3 steps an epoch
        (None, "20", 3),  # the default pruner for data with forces
        ("hyperband", "{type: categorical, choices: [8, 20]}", 3),  # the largest batch counts
        ("successive-halving", "8", None),  # 6 steps an epoch
        ("median", "20", None),  # it waits a fifth of the epochs
    ],
)
def test_an_early_rung_pruner_warns_when_trials_take_few_steps_an_epoch(
    sweep_options, tmp_path, caplog, pruner, batch, warned
) -> None:
    space = tmp_path / "batches.yaml"
    space.write_text(
        (tmp_path / "tiny.yaml").read_text().replace("batch_size: 20", f"batch_size: {batch}")
    )
    with caplog.at_level("WARNING", logger="hpo.sweep.runner"):
        outcome = run_sweep(
            sweep_options(space=str(space), pruner=pruner, n_trials=1, max_epochs=1)
        )
    notes = [r.getMessage() for r in caplog.records if "after their second epoch" in r.getMessage()]
    if warned is None:
        assert notes == []
    else:
        assert len(notes) == 1
        assert f"takes {warned} optimizer step(s) an epoch (48 training structures" in notes[0]
        assert "give a smaller batch_size (at most 12) or --pruner none" in notes[0]
    assert outcome.study.trials[0].state == TrialState.COMPLETE
