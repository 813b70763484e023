"""Figure builders return the expected traces from plain data."""

from __future__ import annotations

import numpy as np
import pytest

from dashboards import figures
from dashboards.svg import curves_svg, parity_svg


def test_history_has_trials_and_running_best() -> None:
    figure = figures.optimization_history([0, 1, 2, 3], [3.0, 1.0, 2.0, 0.5])
    trials, best = figure.data
    assert list(trials.y) == [3.0, 1.0, 2.0, 0.5]
    assert list(best.y) == [3.0, 1.0, 1.0, 0.5]
    axis = figure.layout.xaxis  # whole trial numbers: no tick at 0.5
    assert (axis.tickmode, axis.dtick, axis.tickformat) == ("linear", 1, "d")
    assert figures.optimization_history(list(range(95)), [1.0] * 95).layout.xaxis.dtick == 10


def test_parity_reports_mae_and_rmse() -> None:
    figure = figures.parity([1.0, 2.0, 3.0], [1.5, 2.0, 2.0])
    points, identity = figure.data
    assert list(points.x) == [1.0, 2.0, 3.0] and list(identity.x) == [1.0, 3.0]
    mae, rmse = (0.5 + 0 + 1) / 3, np.sqrt((0.25 + 0 + 1) / 3)
    assert f"MAE {mae:.4g} eV" in figure.layout.title.text
    assert f"RMSE {rmse:.4g} eV" in figure.layout.title.text


def test_importances_parallel_slices_curves_tables() -> None:
    bars = figures.param_importances({"lr": 0.7, "cutoff": 0.2, "n_rbf": 0.1})
    assert list(bars.data[0].y) == ["n_rbf", "cutoff", "lr"]
    params = [{"lr": 0.01, "attention": True}, {"lr": 0.001, "attention": False}]
    parallel = figures.parallel_coordinates(params, [1.0, 2.0])
    labels = [d["label"] for d in parallel.data[0].dimensions]
    assert labels == ["attention", "lr", "objective"]
    assert list(parallel.data[0].dimensions[0]["ticktext"]) == ["False", "True"]
    assert figures.slice_plot("lr", [0.01, 0.001], [1.0, 2.0]).data[0].name == "lr"
    curves = figures.learning_curves({"trial 1": ([0, 1], [2.0, 1.0]), "trial 2": ([0], [3.0])})
    assert [trace.name for trace in curves.data] == ["trial 1", "trial 2"]
    errors = figures.error_against([21, 21], [-0.5, 0.2], "cluster size")
    assert list(errors.data[0].y) == [0.5, 0.2]
    table = figures.table(["a", "b"], [[1, "x"], [2, "y"]], "t")
    assert list(table.data[0].cells.values[0]) == [1, 2]


@pytest.mark.parametrize("builder", ["parity", "curves"])
def test_svg_figures_are_valid_xml(builder) -> None:
    import xml.etree.ElementTree as ElementTree

    if builder == "parity":
        text = parity_svg([1.0, 2.0, 3.0], [1.1, 1.9, 3.2], "t")
        assert text.count("<circle") == 3
    else:
        text = curves_svg({"train": ([0, 1, 2], [3.0, 2.0, 1.0])}, "t", "MAE")
        assert "<polyline" in text
    assert ElementTree.fromstring(text).tag.endswith("svg")


def test_top_trials_link_to_their_mlflow_run_page_on_a_server() -> None:
    from dashboards.report import run_link

    run_id = "0123456789abcdef0123456789abcdef"
    link = run_link("http://alice:s3cret@mlflow-host:5000/", "3", run_id)
    page = f"http://alice:***@mlflow-host:5000/#/experiments/3/runs/{run_id}"
    # MLflow 3's UI opens its GenAI view unless the page asks for the machine-learning one
    assert link == f'<a href="{page}?workflowType=machine_learning">{run_id[:8]}</a>'

    assert "s3cret" not in link
    assert run_link("sqlite:///mlflow.db", "3", run_id) == run_id  # no UI to link to
