"""Plotly figure builders. Each takes plain data (numbers, lists, dicts), never a study or a model,
so they are testable without a browser, a storage or a training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go


def optimization_history(numbers: Sequence[int], values: Sequence[float]) -> go.Figure:
    """Objective value of every finished trial and the running best (minimisation)."""
    best = np.minimum.accumulate(np.asarray(values, dtype=float)) if len(values) else np.zeros(0)
    figure = go.Figure(
        [
            go.Scatter(x=list(numbers), y=list(values), mode="markers", name="trial"),
            go.Scatter(x=list(numbers), y=list(best), mode="lines", name="best so far"),
        ]
    )
    figure.update_layout(
        title="Optimisation history", xaxis_title="trial", yaxis_title="validation energy MAE [eV]"
    )
    # trial numbers are whole: ticks at whole steps, never 0.5
    step = max(1, int(np.ceil((max(numbers, default=0) - min(numbers, default=0) + 1) / 10)))
    figure.update_xaxes(tickmode="linear", tick0=0, dtick=step, tickformat="d")
    return figure


def param_importances(importances: dict[str, float]) -> go.Figure:
    """Horizontal bars of hyperparameter importances (fANOVA or similar), largest on top."""
    ordered = sorted(importances.items(), key=lambda item: item[1])
    figure = go.Figure(
        go.Bar(
            x=[v for _, v in ordered], y=[k for k, _ in ordered], orientation="h", name="importance"
        )
    )
    figure.update_layout(title="Hyperparameter importances", xaxis_title="importance")
    return figure


def parallel_coordinates(params: Sequence[dict[str, object]], values: Sequence[float]) -> go.Figure:
    """One line per trial through its parameters; categories are drawn as their index."""
    names = sorted({name for row in params for name in row})
    dimensions = []
    for name in names:
        column = [row.get(name) for row in params]
        numeric = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in column if v is not None
        )
        if numeric:
            dimensions.append(
                {"label": name, "values": [np.nan if v is None else v for v in column]}
            )
        else:
            categories = sorted({str(v) for v in column})
            dimensions.append(
                {
                    "label": name,
                    "values": [categories.index(str(v)) for v in column],
                    "tickvals": list(range(len(categories))),
                    "ticktext": categories,
                }
            )
    dimensions.append({"label": "objective", "values": list(values)})
    figure = go.Figure(
        go.Parcoords(
            line={"color": list(values), "colorscale": "Viridis", "showscale": True},
            dimensions=dimensions,
        )
    )
    figure.update_layout(title="Parallel coordinates")
    return figure


def slice_plot(name: str, xs: Sequence[object], values: Sequence[float]) -> go.Figure:
    """Objective against one parameter."""
    figure = go.Figure(
        go.Scatter(
            x=[str(x) if isinstance(x, bool) else x for x in xs],
            y=list(values),
            mode="markers",
            name=name,
        )
    )
    figure.update_layout(
        title=f"Slice: {name}", xaxis_title=name, yaxis_title="validation energy MAE [eV]"
    )
    return figure


def learning_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    metric: str = "validation energy MAE [eV]",
) -> go.Figure:
    """One line per label: (epochs, values)."""
    figure = go.Figure(
        [
            go.Scatter(x=list(epochs), y=list(values), mode="lines+markers", name=label)
            for label, (epochs, values) in curves.items()
        ]
    )
    figure.update_layout(title="Learning curves", xaxis_title="epoch", yaxis_title=metric)
    return figure


def parity(reference: Sequence[float], predicted: Sequence[float], unit: str = "eV") -> go.Figure:
    """Predicted against reference values with the identity line; MAE and RMSE in the title."""
    x, y = np.asarray(reference, float), np.asarray(predicted, float)
    error = y - x
    mae, rmse = float(np.abs(error).mean()), float(np.sqrt((error**2).mean()))
    low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    figure = go.Figure(
        [
            go.Scatter(x=x, y=y, mode="markers", name="test structures"),
            go.Scatter(x=[low, high], y=[low, high], mode="lines", name="y = x"),
        ]
    )
    figure.update_layout(
        title=f"Parity (test split): MAE {mae:.4g} {unit}, RMSE {rmse:.4g} {unit}",
        xaxis_title=f"reference energy [{unit}]",
        yaxis_title=f"predicted energy [{unit}]",
    )
    return figure


def error_against(x: Sequence[float], errors: Sequence[float], x_title: str) -> go.Figure:
    """Absolute energy error against a property (cluster size, reference energy, ...)."""
    figure = go.Figure(
        go.Scatter(
            x=list(x), y=np.abs(np.asarray(errors, float)).tolist(), mode="markers", name="|error|"
        )
    )
    figure.update_layout(
        title=f"Absolute error against {x_title}",
        xaxis_title=x_title,
        yaxis_title="|predicted - reference| [eV]",
    )
    return figure


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    title: str,
    widths: Sequence[float] | None = None,
) -> go.Figure:
    """A plotly table; ``widths``: the columns' relative widths (plotly's columnwidth)."""
    cells = [[row[k] for row in rows] for k in range(len(columns))]
    figure = go.Figure(
        go.Table(
            header={"values": list(columns)},
            cells={"values": cells},
            columnwidth=list(widths) if widths else None,
        )
    )
    figure.update_layout(title=title)
    return figure


def pair_distributions_figure(
    run: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    reference: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    title: str = "Partial pair-distance distributions",
) -> go.Figure:
    """One line per element pair (and the reference's, dashed, in the same colour group)."""
    figure = go.Figure()
    for label, (r, density) in sorted(run.items()):
        figure.add_trace(
            go.Scatter(x=list(r), y=list(density), mode="lines", name=label, legendgroup=label)
        )
        if reference and label in reference:
            r_ref, density_ref = reference[label]
            figure.add_trace(
                go.Scatter(
                    x=list(r_ref),
                    y=list(density_ref),
                    mode="lines",
                    line={"dash": "dash"},
                    name=f"{label} (reference)",
                    legendgroup=label,
                )
            )
    figure.update_layout(title=title, xaxis_title="r [Å]", yaxis_title="p(r) [1/Å]")
    return figure
