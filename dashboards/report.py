"""The study report: one self-contained HTML file (plotly.js inlined, no network needed to view).

``collect_report_data`` turns a study (plus its MLflow runs and best
checkpoint) into plain data; ``build_report`` turns plain data into HTML
with the builders of :mod:`dashboards.figures`; ``write_report`` does both
and logs the file to the study's MLflow parent run.
"""

from __future__ import annotations

import html
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import plotly.offline
from optuna.trial import TrialState

from dashboards import figures

logger = logging.getLogger(__name__)

TOP_CURVES = 5


@dataclass
class ReportData:
    """Everything the report shows, as plain data."""

    title: str
    numbers: list[int]
    values: list[float]
    params: list[dict[str, Any]]
    importances: dict[str, float]
    curves: dict[str, tuple[list[float], list[float]]]
    parity: tuple[list[float], list[float], list[int]] | None
    top_trials: list[list[Any]]
    ablation: list[list[Any]] = field(default_factory=list)
    transfer: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    if tracking_uri.startswith(("http://", "https://")):
        url = f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
        return f'<a href="{html.escape(url)}">{run_id[:8]}</a>'
    return run_id


def _best_parity(study: optuna.Study, setup: Any) -> tuple[list[float], list[float], list[int]]:
    from lightning_modules.data import load_data
    from lightning_modules.evaluation import predict_energies, split_loader
    from lightning_modules.task import load_task

    task = load_task(study.best_trial.user_attrs["checkpoint_path"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(list(setup.data), setup.energy_unit)
    reference, predicted, sizes = predict_energies(task, split_loader(task, data))
    return reference.tolist(), predicted.tolist(), sizes.tolist()


def _ablation(trials: list[optuna.trial.FrozenTrial]) -> list[list[Any]]:
    switches = [name for name in ("attention", "activation", "model")
                if any(name in t.params for t in trials)]
    if not switches:
        return []
    groups: dict[tuple[Any, ...], list[float]] = {}
    for trial in trials:
        key = tuple(trial.params.get(name, "-") for name in switches)
        groups.setdefault(key, []).append(float(trial.value))
    return [[", ".join(f"{n}={v}" for n, v in zip(switches, key)), len(v), f"{min(v):.5g}",
             f"{np.mean(v):.5g}"] for key, v in sorted(groups.items(), key=lambda kv: min(kv[1]))]


def _transfer_rows(tracking_uri: str) -> list[list[Any]]:
    from mlflow import MlflowClient
    from mlflow.artifacts import load_dict

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("compare")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                              max_results=1)
    if not runs:
        return []
    run = runs[0]
    comparison = load_dict(f"{run.info.artifact_uri}/comparison.json")
    return [[name, f"{np.mean(comparison['scratch'][name]):.5g}",
             f"{np.mean(comparison['transfer'][name]):.5g}", f"{p:.3g}",
             len(comparison["seeds"])] for name, p in comparison["p_values"].items()]


def collect_report_data(study: optuna.Study, tracking_uri: str | None = None) -> ReportData:
    """Plain data of a single-objective study, its runs and its best model."""
    from hpo.study import stored_setup
    from hpo.tracking import PARENT_RUN_ATTR

    trials = [t for t in study.trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not trials:
        raise ValueError(f"study {study.study_name!r} has no complete trial to report")
    if len(study.directions) != 1:
        raise ValueError("the report covers single-objective studies")
    setup = stored_setup(study)
    tracking_uri = tracking_uri or (setup.tracking_uri if setup else None)
    notes = []
    try:
        importances = dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError) as error:
        importances = {}
        notes.append(f"no importances: {error}")
    ranked = sorted(trials, key=lambda t: t.value)
    curves = {}
    for trial in ranked[:TOP_CURVES]:
        history = trial.user_attrs.get("history", [])
        curves[f"trial {trial.number}"] = ([e["epoch"] for e in history if "val_energy_mae" in e],
                                           [e["val_energy_mae"] for e in history
                                            if "val_energy_mae" in e])
    experiment_id = ""
    if tracking_uri and study.user_attrs.get(PARENT_RUN_ATTR):
        from mlflow import MlflowClient

        try:
            experiment_id = MlflowClient(tracking_uri).get_run(
                study.user_attrs[PARENT_RUN_ATTR]).info.experiment_id
        except Exception as error:  # a moved or deleted tracking store must not stop the report
            notes.append(f"MLflow store not reachable: {error}")
    top = []
    for trial in ranked[:10]:
        run_id = trial.user_attrs.get("mlflow_run_id", "")
        test = trial.user_attrs.get("test_metrics", {})
        top.append([trial.number, f"{trial.value:.5g}", f"{test.get('test_energy_mae', np.nan):.5g}",
                    f"{test.get('test_energy_mae_clean', np.nan):.5g}",
                    json.dumps(trial.params), _run_link(tracking_uri or "", experiment_id, run_id)])
    parity = None
    if setup is not None and Path(ranked[0].user_attrs.get("checkpoint_path", "")).exists():
        parity = _best_parity(study, setup)
    else:
        notes.append("no parity plot: the best checkpoint or the study set-up is missing")
    return ReportData(
        title=f"pesweep study {study.study_name}",
        numbers=[t.number for t in trials], values=[float(t.value) for t in trials],
        params=[dict(t.params) for t in trials], importances=importances, curves=curves,
        parity=parity, top_trials=top, ablation=_ablation(trials),
        transfer=_transfer_rows(tracking_uri) if tracking_uri else [], notes=notes,
    )


def build_report(data: ReportData) -> str:
    """A self-contained HTML document of the report (plotly.js inlined once)."""
    parts: list[Any] = [figures.optimization_history(data.numbers, data.values)]
    if data.importances:
        parts.append(figures.param_importances(data.importances))
        for name in list(sorted(data.importances, key=data.importances.get, reverse=True))[:3]:
            xs = [p.get(name) for p in data.params]
            parts.append(figures.slice_plot(name, xs, data.values))
    parts.append(figures.parallel_coordinates(data.params, data.values))
    if data.curves:
        parts.append(figures.learning_curves(data.curves))
    if data.parity is not None:
        reference, predicted, sizes = data.parity
        errors = (np.asarray(predicted) - np.asarray(reference)).tolist()
        parts.append(figures.parity(reference, predicted))
        parts.append(figures.error_against(sizes, errors, "cluster size [atoms]"))
        parts.append(figures.error_against(reference, errors, "reference energy [eV]"))
    parts.append(figures.table(["trial", "val MAE [eV]", "test MAE [eV, full]",
                                "test MAE [eV, audit-clean]", "parameters", "MLflow run"],
                               data.top_trials, "Top trials"))
    if data.ablation:
        parts.append(figures.table(["switches", "trials", "best val MAE", "mean val MAE"],
                                   data.ablation, "Ablation"))
    if data.transfer:
        parts.append(figures.table(["metric", "scratch mean", "transfer mean", "p (paired t)",
                                    "seeds"], data.transfer, "Scratch versus transfer"))
    body = "\n".join(f'<section>{figure.to_html(full_html=False, include_plotlyjs=False)}'
                     f'</section>' for figure in parts)
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in data.notes)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(data.title)}</title>"
        f"<script type=\"text/javascript\">{plotly.offline.get_plotlyjs()}</script>"
        "<style>body{font-family:sans-serif;margin:2em}section{margin-bottom:2em}</style>"
        f"</head><body><h1>{html.escape(data.title)}</h1>"
        f"<p>{len(data.values)} complete trials; energies in eV, metrics labelled full set or "
        f"audit-clean subset.</p>{'<ul>' + notes + '</ul>' if notes else ''}"
        f"{body}</body></html>"
    )


def write_report(study: optuna.Study, out: str | Path, tracking_uri: str | None = None) -> Path:
    """Build the report of ``study`` into ``out`` and log it to the study's MLflow parent run."""
    from hpo.study import stored_setup
    from hpo.tracking import PARENT_RUN_ATTR

    data = collect_report_data(study, tracking_uri)
    path = Path(out)
    path.write_text(build_report(data), encoding="utf-8")
    setup = stored_setup(study)
    tracking_uri = tracking_uri or (setup.tracking_uri if setup else None)
    parent = study.user_attrs.get(PARENT_RUN_ATTR)
    if tracking_uri and parent:
        from mlflow import MlflowClient

        MlflowClient(tracking_uri).log_artifact(parent, str(path))
    return path
