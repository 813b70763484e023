"""The study report: one self-contained HTML file (plotly.js inlined, no network needed to view).

:class:`ReportData` is plain data; :func:`build_report` turns it into HTML
with the builders of :mod:`dashboards.figures`. Gathering the data from a
study, its MLflow runs and its best checkpoint is :mod:`hpo.workflows.report`'s job.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.offline

from dashboards import figures
from lightning_modules.store_uris import mlflow_run_url


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


def run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    if tracking_uri.startswith(("http://", "https://")):
        url = mlflow_run_url(tracking_uri, experiment_id, run_id)
        return f'<a href="{html.escape(url)}">{run_id[:8]}</a>'
    return run_id


def build_report(data: ReportData) -> str:
    """A self-contained HTML document of the report (plotly.js inlined once)."""
    parts: list[Any] = [figures.optimization_history(data.numbers, data.values)]
    if data.importances:
        parts.append(figures.param_importances(data.importances))
        for name in list(
            sorted(data.importances, key=lambda name: data.importances[name], reverse=True)
        )[:3]:
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
    parts.append(
        figures.table(
            [
                "trial",
                "val MAE [eV]",
                "test MAE [eV, full]",
                "test MAE [eV, audit-clean]",
                "parameters",
                "MLflow run",
            ],
            data.top_trials,
            "Top trials",
            widths=[0.5, 1, 1, 1, 4, 2.6],  # a whole MLflow run id (32 characters) fits
        )
    )
    if data.ablation:
        parts.append(
            figures.table(
                ["switches", "trials", "best val MAE [eV]", "mean val MAE [eV]"],
                data.ablation,
                "Ablation",
            )
        )
    if data.transfer:
        parts.append(
            figures.table(
                ["metric", "scratch mean", "transfer mean", "p (paired t)", "seeds"],
                data.transfer,
                "Scratch versus transfer",
            )
        )
    body = "\n".join(
        f"<section>{figure.to_html(full_html=False, include_plotlyjs=False)}</section>"
        for figure in parts
    )
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in data.notes)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(data.title)}</title>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
        "<style>body{font-family:sans-serif;margin:2em}section{margin-bottom:2em}</style>"
        f"</head><body><h1>{html.escape(data.title)}</h1>"
        f"<p>{len(data.values)} complete trials; energies in eV, metrics labelled full set or "
        f"audit-clean subset.</p>{'<ul>' + notes + '</ul>' if notes else ''}"
        f"{body}</body></html>"
    )
