"""The data of a study's report, gathered from the study, its MLflow runs and its best model.

:func:`collect_report_data` returns plain :class:`~dashboards.report.ReportData`;
:func:`write_report` renders it (:func:`dashboards.report.build_report`) and
logs the file to the study's MLflow parent run.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from dashboards.report import ReportData, build_report, run_link
from hpo.study.setup import PARENT_RUN_ATTR, stored_setup
from hpo.study.trial_record import best_trial, trial_result
from hpo.tracking.runs import tracking_client
from hpo.tracking.stores import Store, mask_text, tracking_store
from lightning_modules.conventions import MONITORED_METRIC
from lightning_modules.errors import CheckpointError

TOP_CURVES = 5


def _best_parity(best: Any, setup: Any) -> tuple[list[float], list[float], list[int]]:
    from lightning_modules.data import load_data
    from lightning_modules.training.evaluation import predict_energies, split_loader
    from lightning_modules.training.task import load_task, verify_checkpoint

    recorded = trial_result(best)
    path = recorded["checkpoint_path"]
    verify_checkpoint(path, recorded.get("checkpoint_sha256"), f"trial {best.number}'s {path}")
    task = load_task(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(list(setup.data), setup.energy_unit)
    reference, predicted, sizes = predict_energies(task, split_loader(task, data))
    return reference.tolist(), predicted.tolist(), sizes.tolist()


def _value(trial: optuna.trial.FrozenTrial) -> float:
    """The objective value of a complete single-objective trial."""
    assert trial.value is not None
    return float(trial.value)


def _ablation(trials: list[optuna.trial.FrozenTrial]) -> list[list[Any]]:
    switches = [
        name
        for name in ("attention", "activation", "model")
        if any(name in t.params for t in trials)
    ]
    if not switches:
        return []
    groups: dict[tuple[Any, ...], list[float]] = {}
    for trial in trials:
        key = tuple(trial.params.get(name, "-") for name in switches)
        groups.setdefault(key, []).append(_value(trial))
    return [
        [
            ", ".join(f"{n}={v}" for n, v in zip(switches, key, strict=False)),
            len(v),
            f"{min(v):.5g}",
            f"{np.mean(v):.5g}",
        ]
        for key, v in sorted(groups.items(), key=lambda kv: min(kv[1]))
    ]


def _transfer_rows(tracking: Store) -> list[list[Any]]:
    from mlflow.artifacts import load_dict

    client = tracking_client(tracking)
    experiment = client.get_experiment_by_name("compare")
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
    )
    if not runs:
        return []
    run = runs[0]
    comparison = load_dict(f"{run.info.artifact_uri}/comparison.json")
    return [
        [
            name,
            f"{np.mean(comparison['scratch'][name]):.5g}",
            f"{np.mean(comparison['transfer'][name]):.5g}",
            f"{p:.3g}",
            len(comparison["seeds"]),
        ]
        for name, p in comparison["p_values"].items()
    ]


FEW_TRIALS = 10  # below this, fANOVA importances say little


def report_store(study: optuna.Study, tracking_uri: str | Store | None) -> Store:
    """The study's MLflow store: the argument, ``$MLFLOW_TRACKING_URI``, the study's record."""
    setup = stored_setup(study)
    return tracking_store(tracking_uri, setup.tracking_uri if setup else None)


def collect_report_data(study: optuna.Study, tracking_uri: str | Store | None = None) -> ReportData:
    """Plain data of a single-objective study, its runs and its best model."""
    trials = [t for t in study.trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not trials:
        raise ValueError(f"study {study.study_name!r} has no complete trial to report")
    if len(study.directions) != 1:
        raise ValueError("the report covers single-objective studies")
    setup = stored_setup(study)
    tracking = tracking_store(tracking_uri, setup.tracking_uri if setup else None)
    notes = []
    try:
        importances = dict(optuna.importance.get_param_importances(study))
        if len(trials) < FEW_TRIALS:
            notes.append(
                f"importances from only {len(trials)} complete trials (fewer than "
                f"{FEW_TRIALS}): a rough guide, not a ranking"
            )
    except (RuntimeError, ValueError) as error:
        importances = {}
        notes.append(f"no importances: {error}")
    ranked = sorted(trials, key=_value)
    curves = {}
    for trial in ranked[:TOP_CURVES]:
        history = trial_result(trial).get("history", [])
        curves[f"trial {trial.number}"] = (
            [e["epoch"] for e in history if MONITORED_METRIC in e],
            [e[MONITORED_METRIC] for e in history if MONITORED_METRIC in e],
        )
    experiment_id = ""
    if study.user_attrs.get(PARENT_RUN_ATTR):
        try:
            experiment_id = (
                tracking_client(tracking)
                .get_run(study.user_attrs[PARENT_RUN_ATTR])
                .info.experiment_id
            )
        except Exception as error:  # a moved or deleted tracking store must not stop the report
            notes.append(f"MLflow store not reachable: {mask_text(str(error), tracking.uri)}")
    top = []
    for trial in ranked[:10]:
        run_id = trial.user_attrs.get("mlflow_run_id", "")
        test = trial_result(trial).get("test_metrics", {})
        top.append(
            [
                trial.number,
                f"{trial.value:.5g}",
                f"{test.get('test_energy_mae_eV', np.nan):.5g}",
                f"{test.get('test_energy_mae_eV_clean', np.nan):.5g}",
                json.dumps(trial.params),
                run_link(tracking.masked, experiment_id, run_id),
            ]
        )
    parity = None
    best = best_trial(study)
    if best is None:
        notes.append("no parity plot: no complete trial meets the study's constraints")
    elif setup is not None and Path(trial_result(best).get("checkpoint_path", "")).exists():
        try:
            parity = _best_parity(best, setup)
        except CheckpointError as error:  # changed or broken since the trial: said, not drawn
            notes.append(f"no parity plot: {error}")
    else:
        notes.append("no parity plot: the best checkpoint or the study set-up is missing")
    return ReportData(
        title=f"pesweep study {study.study_name}",
        numbers=[t.number for t in trials],
        values=[_value(t) for t in trials],
        params=[dict(t.params) for t in trials],
        importances=importances,
        curves=curves,
        parity=parity,
        top_trials=top,
        ablation=_ablation(trials),
        transfer=_transfer_rows(tracking),
        notes=notes,
    )


def write_report(
    study: optuna.Study, out: str | Path, tracking_uri: str | Store | None = None
) -> Path:
    """Build the report of ``study`` into ``out`` and log it to the study's MLflow parent run."""
    tracking = report_store(study, tracking_uri)
    data = collect_report_data(study, tracking)
    path = Path(out)
    path.write_text(build_report(data), encoding="utf-8")
    parent = study.user_attrs.get(PARENT_RUN_ATTR)
    if parent:
        tracking_client(tracking).log_artifact(parent, str(path))
    return path
