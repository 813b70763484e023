"""The HTML report and the dashboards, checked in a real headless Chromium when installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from dashboards.ui import UIError, port_is_free, start_ui
from hpo.sweep.runner import run_sweep
from hpo.workflows.report import collect_report_data, write_report
from lightning_modules.store_uris import mlflow_run_url, mlflow_runs_url
from tests.support.services import free_port

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=20000",
    "--window-size=1280,1600",
]


@pytest.fixture(scope="module")
def study_outcome(tmp_path_factory, small_emt_file):
    from tests.support.sweeps import TINY_SPACE, tiny_sweep_options

    folder = tmp_path_factory.mktemp("report")
    space = folder / "tiny.yaml"
    space.write_text(TINY_SPACE + "  attention: {type: categorical, choices: [true, false]}\n")
    outcome = run_sweep(
        tiny_sweep_options(folder, space, small_emt_file, study_name="report", n_trials=4)
    )
    return outcome, folder


def test_report_is_self_contained_and_logged(study_outcome) -> None:
    outcome, folder = study_outcome
    data = collect_report_data(outcome.study)
    assert len(data.values) == 4 and data.parity is not None
    assert len(data.parity[0]) == 6  # the test split of 60 structures
    assert any(row[0].startswith("attention=") for row in data.ablation)
    assert any("importances from only 4 complete trials" in note for note in data.notes)
    path = write_report(outcome.study, folder / "report.html")
    text = path.read_text()
    assert "<script src=" not in text and "<link " not in text
    bundle_end = text.index("</script>")  # plotly.js, inlined once (it names a CDN for geo maps)
    assert not re.search(r"@import|url\(http|cdn\.plot\.ly|fonts\.googleapis", text[bundle_end:])
    assert text.count('class="plotly-graph-div"') >= 7
    assert "best val MAE [eV]" in text and "mean val MAE [eV]" in text  # units in the ablation
    assert '"columnwidth":[0.5,1,1,1,4,2.6]' in text.replace(".0,", ",")  # a whole run id fits
    from mlflow import MlflowClient

    artifacts = {
        a.path for a in MlflowClient(outcome.tracking.uri).list_artifacts(outcome.parent_run_id)
    }
    assert "report.html" in artifacts


def test_ui_refuses_taken_ports_and_missing_stores(study_outcome, tmp_path) -> None:
    outcome, folder = study_outcome
    with pytest.raises(UIError, match="does not exist"):
        start_ui(f"sqlite:///{tmp_path / 'none.db'}", outcome.tracking.uri)
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(UIError, match=f"port {taken} on 127.0.0.1 is taken"):
            start_ui(
                str(outcome.study._storage.url)
                if hasattr(outcome.study._storage, "url")
                else f"sqlite:///{folder / 'optuna.db'}",
                outcome.tracking.uri,
                port=taken,
            )


def test_the_dashboards_get_their_store_urls_through_the_environment_not_argv(
    study_outcome, tmp_path
) -> None:
    """A command line is visible to every user of the node (`ps`); a password must not be there."""
    import json
    import urllib.request

    outcome, folder = study_outcome
    storage = f"sqlite:///{folder / 'optuna.db'}"
    ui = start_ui(
        storage,
        outcome.tracking.uri,
        port=free_port(),
        mlflow_port=free_port(),
        log_dir=str(tmp_path),
    )
    try:
        with urllib.request.urlopen(f"{ui.optuna_url}/api/studies", timeout=30) as answer:
            studies = json.load(answer)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["report"]  # it opened the storage
        for process in ui.processes:
            command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
            assert "optuna.db" not in command_line and "mlflow.db" not in command_line
    finally:
        ui.stop()


@pytest.mark.slow  # a console script that starts both servers
def test_ctrl_c_stops_the_dashboards_as_planned_and_leaves_no_log_folder(study_outcome) -> None:
    import signal
    import subprocess
    import sys

    outcome, folder = study_outcome
    ui = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "ui", "--storage", f"sqlite:///{folder / 'optuna.db'}"]
        + ["--tracking-uri", outcome.tracking.uri, "--port", str(free_port())]
        + ["--mlflow-port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert ui.stdout is not None
    lines = [ui.stdout.readline() for _ in range(3)]
    assert lines[2].startswith("server logs in "), lines
    logs = Path(lines[2].removeprefix("server logs in ").split(";")[0])
    assert logs.is_dir()
    ui.send_signal(signal.SIGINT)
    out, err = ui.communicate(timeout=60)
    assert ui.returncode == 0, err
    assert "both dashboards stopped" in out
    assert "FAIL" not in err and "KILLED" not in err  # nothing of a sweep was ended
    assert not logs.exists()


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("no Chromium installed (.ci/run installs Debian's chromium)")
    return found


def open_page(url: str, screenshot: Path, profile: Path) -> tuple[str, str]:
    """The DOM after scripts ran, and the browser's log; a screenshot is written too."""
    browser = chromium()
    base = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    subprocess.run(
        [*base, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120
    )
    assert screenshot.exists() and screenshot.stat().st_size > 1000
    return dom.stdout, dom.stderr


def javascript_errors(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)
    ]


@pytest.mark.slow  # 95 s in a headless browser; the report's content is checked above
def test_report_and_dashboards_render_in_chromium(study_outcome, tmp_path) -> None:
    chromium()
    outcome, folder = study_outcome
    report = write_report(outcome.study, folder / "browser-report.html")
    dom, log = open_page(report.as_uri(), tmp_path / "report.png", tmp_path / "profile1")
    assert not javascript_errors(log), javascript_errors(log)
    assert dom.count("main-svg") >= 7  # plotly drew its SVG layers
    ui = start_ui(
        f"sqlite:///{folder / 'optuna.db'}",
        outcome.tracking.uri,
        port=free_port(),
        mlflow_port=free_port(),
        log_dir=str(tmp_path),
    )
    try:
        dom, log = open_page(
            f"{ui.optuna_url}/dashboard/studies/1", tmp_path / "optuna.png", tmp_path / "profile2"
        )
        assert not javascript_errors(log), javascript_errors(log)
        assert "report" in dom
        dom, log = open_page(ui.mlflow_url, tmp_path / "mlflow.png", tmp_path / "profile3")
        assert not javascript_errors(log), javascript_errors(log)
        assert ">report<" in dom  # the study's experiment is listed
        # the URL the sweep prints: MLflow's model-training runs table, not its GenAI overview,
        # with the parent run and every trial listed (not folded under the parent)
        experiment = MlflowClient(outcome.tracking.uri).get_experiment_by_name("report")
        url = mlflow_runs_url(ui.mlflow_url, experiment.experiment_id, "best_val_energy_mae_eV")
        dom, log = open_page(url, tmp_path / "runs.png", tmp_path / "profile4")
        assert not javascript_errors(log), javascript_errors(log)
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
        assert "Model training" in text and "Evaluations" not in text  # the ML view
        assert "study-report" in text
        assert all(f"trial-{t.number}" in text for t in outcome.study.trials)
        assert Path(outcome.setup.data[0]).name in text  # the Datasets column
        # a trial's run page, as pesweep links it: the breadcrumb names the model-training
        # view's "Runs", not the GenAI view's "Evaluations"
        trial_run = outcome.study.best_trial.user_attrs["mlflow_run_id"]
        page = mlflow_run_url(ui.mlflow_url, experiment.experiment_id, trial_run)
        dom, log = open_page(page, tmp_path / "run.png", tmp_path / "profile5")
        assert not javascript_errors(log), javascript_errors(log)
        crumbs = re.findall(r'data-testid="experiment-observatory-link-runs"[^>]*>(.*?)</a>', dom)
        assert crumbs and "Runs" in crumbs[0] and "Evaluations" not in crumbs[0], crumbs
    finally:
        ui.stop()
    assert all(process.poll() is not None for process in ui.processes)
    for process in ui.processes:  # no orphans: the whole process group is gone
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)
    assert port_is_free("127.0.0.1", int(ui.optuna_url.rsplit(":", 1)[1]))
