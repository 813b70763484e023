"""The SchNet_IIA reproduction scripts run end to end (``--smoke``) and their tables are whole."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import pytest

from tests.support.commands import BENCHMARKS, run_benchmark
from tests.support.data import shared_file

sys.path.insert(0, str(BENCHMARKS))
import ablation_seb  # noqa: E402
import seb_study  # noqa: E402
import source_tasks_seb  # noqa: E402

UNITS = ("Ha/atom, full", "Ha/atom, audit-clean", "eV/structure", "meV/atom", "published")


def smoke(script: str, tmp_path: Path, *more: str) -> tuple[dict, str, str]:
    """Run ``script --smoke``; its JSON table, its printed output and its MLflow store."""
    shared_file("seb_clusters/SeBn/B=20.npz")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = run_benchmark(
        script,
        "--smoke",
        "--json",
        str(tmp_path / "table.json"),
        "--tracking-uri",
        uri,
        *more,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / "table.json").read_text()), done.stdout + done.stderr, uri


def check_tracked(uri: str, experiment: str, n_rows: int) -> None:
    """One parent run holding the table and the curves, one nested run per trained (row, seed)."""
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == n_rows
    for child in children:
        assert child.data.metrics["test_energy_mae_Ha_per_atom"] > 0
        assert "test_energy_mae_eV_clean" in child.data.metrics
    artifacts = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {f"{experiment}.md", f"{experiment}.json", "learning_curves.html"} <= artifacts


def test_ablation_smoke_has_every_row_in_every_unit_and_resumes_from_its_cells(tmp_path) -> None:
    cells = ("--cells-dir", str(tmp_path / "cells"), "--jobs", "2")
    table, output, uri = smoke("ablation_seb.py", tmp_path, *cells)
    assert list(table["rows"]) == ["constant predictor", *ablation_seb.ROWS]
    assert "REDUCED budget" in output
    # the --jobs 2 workers are as quiet as the parent: no Lightning banner or folder note
    assert "GPU available" not in output and "exists and is not empty" not in output
    for name in ablation_seb.ROWS:
        row = next(line for line in output.splitlines() if line.startswith(f"| {name} |"))
        published = ablation_seb.PUBLISHED[name]
        assert f"{published[0]:.3f} / {published[1]:.3f}" in row
    header = next(line for line in output.splitlines() if line.startswith("| row |"))
    assert all(unit in header for unit in UNITS)
    check_tracked(uri, "seb-ablation", len(ablation_seb.ROWS))
    # every (row, seed) and chain stage is a finished cell; a rerun trains none of them again
    stages = len(seb_study.CHAIN) * len(ablation_seb.TRANSFERRED)
    assert len(list((tmp_path / "cells").rglob("*.json"))) == len(ablation_seb.ROWS) + stages
    again, output, _ = smoke("ablation_seb.py", tmp_path, *cells)
    assert again["rows"] == table["rows"]
    assert (
        f"{len(ablation_seb.ROWS) - 3} of {len(ablation_seb.ROWS) - 3} cells already done" in output
    )
    assert "cells done, about" not in output  # no cell ran
    only, output, _ = smoke("ablation_seb.py", tmp_path, *cells, "--table-only")
    assert only["rows"] == table["rows"] and "Only the cells finished so far" in output
    # the source-task table's row from nothing is the ablation's +IIA+SMU training, read back
    sources = ("--cells-dir", str(tmp_path / "sources"), "--table-only")
    shared, _, _ = smoke("source_tasks_seb.py", tmp_path, *sources, "--reference-cells", cells[1])
    assert shared["rows"]["from nothing"] == [
        {**run, "row": "from nothing"} for run in table["rows"]["+IIA+SMU"]
    ]


@pytest.mark.slow  # the ablation smoke covers the shared study code in the default run
def test_source_tasks_smoke_names_each_source_from_its_atoms_and_resumes(tmp_path) -> None:
    cells = ("--cells-dir", str(tmp_path / "cells"), "--jobs", "2")
    table, output, uri = smoke("source_tasks_seb.py", tmp_path, *cells)
    assert list(table["rows"]) == ["constant predictor", *source_tasks_seb.SOURCES]
    assert "SeBn-O/B=19.npz holds B19Se" in output and "Bn/B=21.npz holds B21" in output
    check_tracked(uri, "seb-source-tasks", len(source_tasks_seb.SOURCES))
    sources = len(source_tasks_seb.SOURCES) - 1  # every row but "from nothing" has a source cell
    assert (
        len(list((tmp_path / "cells").rglob("*.json"))) == len(source_tasks_seb.SOURCES) + sources
    )
    again, output, _ = smoke("source_tasks_seb.py", tmp_path, *cells)
    assert again["rows"] == table["rows"] and "cells done, about" not in output  # none ran


@pytest.mark.slow
def test_sweep_vs_paper_smoke_pairs_the_best_with_schnet_iia_and_resumes(tmp_path) -> None:
    cells = ("--cells-dir", str(tmp_path / "cells"))
    table, output, uri = smoke("sweep_vs_paper.py", tmp_path, *cells, "--sweep-workers", "2")
    rows = list(table["rows"])
    assert rows[:2] == ["constant predictor", "+IIA+SMU+TL (SchNet_IIA)"]
    assert rows[2].startswith("the sweep's best (trial ")
    assert "of the 2,250,000 of the grid the paper implies (goal: at most 1%)" in output
    assert "paired over seeds [0]: " in output and "(1 seed: no interval)" in output
    assert "Full test set:" in output and "Audit-clean part:" in output
    # the retrained best is the trial's configuration, fixed values of the space included
    best = table["rows"][rows[2]][0]
    assert best["curve"] and best["metrics"]["test_energy_mae_eV"] > 0
    check_tracked(uri, "seb-sweep-vs-paper", 2)
    # the sweep (its study kept beside the cells) and every retraining are cells: none reruns
    assert (tmp_path / "cells" / "sweep" / "studies.db").is_file()
    swept = json.loads((tmp_path / "cells" / "sweep.json").read_text())["result"]
    assert swept["workers"] == 2 and swept["spent"] >= 2  # the budget counts both workers
    again, output, _ = smoke("sweep_vs_paper.py", tmp_path, *cells)
    assert again["rows"] == table["rows"] and "cells done, about" not in output


@pytest.mark.slow
def test_sweep_vs_paper_drop_flagged_trains_its_trials_and_best_on_the_clean_part(
    tmp_path,
) -> None:
    cells = ("--cells-dir", str(tmp_path / "cells"), "--drop-flagged")
    table, output, uri = smoke("sweep_vs_paper.py", tmp_path, *cells)
    [best_row] = [row for row in table["rows"] if row.startswith("the sweep's best")]
    assert best_row.endswith("retrained without the flagged labels")
    best = json.loads((tmp_path / "cells" / "best" / "seed-0.json").read_text())["settings"]
    assert best["config"]["drop_flagged"] and best["config"]["keep_flagged_in_test"]
    swept = json.loads((tmp_path / "cells" / "sweep.json").read_text())["settings"]
    assert swept["drop_flagged"] is True
    client = mlflow.MlflowClient(uri)
    trials = client.search_runs([client.get_experiment_by_name("sweep-vs-paper").experiment_id])
    trained = [run.data.params for run in trials if "config.drop_flagged" in run.data.params]
    assert trained and all(
        params["config.drop_flagged"] == params["config.keep_flagged_in_test"] == "true"
        for params in trained
    )
    # SchNet_IIA, the reference, trains on everything as published; its recipe without the
    # flagged labels is a row of its own, paired with the sweep's best too
    reference = json.loads((tmp_path / "cells" / "row-6" / "seed-0.json").read_text())
    assert not reference["settings"]["config"]["drop_flagged"]
    cleaned = json.loads(
        (tmp_path / "cells" / "without-flagged" / "row-6" / "seed-0.json").read_text()
    )
    assert cleaned["settings"]["config"]["drop_flagged"]
    assert cleaned["settings"]["init_from_cell"] == reference["settings"]["init_from_cell"]
    assert "+IIA+SMU+TL (SchNet_IIA), without the flagged labels" in table["rows"]
    assert "minus SchNet_IIA trained without the flagged labels" in output


@pytest.mark.slow
def test_sweep_vs_paper_search_loss_searches_it_and_trains_schnet_iia_with_the_mae_too(
    tmp_path,
) -> None:
    cells = ("--cells-dir", str(tmp_path / "cells"), "--search-loss")
    table, output, _ = smoke("sweep_vs_paper.py", tmp_path, *cells)
    swept = json.loads((tmp_path / "cells" / "sweep.json").read_text())
    assert "loss:" in swept["settings"]["space"]
    assert swept["result"]["best_params"]["loss"] in ("rmse", "mae")
    best = json.loads((tmp_path / "cells" / "best" / "seed-0.json").read_text())["settings"]
    assert best["config"].get("loss", "rmse") == swept["result"]["best_params"]["loss"]
    # SchNet_IIA as published (the RMSE), and its recipe with the MAE as a row of its own
    reference = json.loads((tmp_path / "cells" / "row-6" / "seed-0.json").read_text())
    assert "loss" not in reference["settings"]["config"]
    mae = json.loads((tmp_path / "cells" / "mae-loss" / "row-6" / "seed-0.json").read_text())
    assert mae["settings"]["config"]["loss"] == "mae"
    assert list(table["rows"])[:2] == ["constant predictor", "+IIA+SMU+TL (SchNet_IIA)"]
    assert "+IIA+SMU+TL (SchNet_IIA), with the MAE loss" in table["rows"]
    assert "minus SchNet_IIA trained with the MAE loss" in output


def test_the_published_unit_is_hartree_per_atom() -> None:
    """A constant predictor scores about the published SchNet's 0.118 only when read as Ha/atom."""
    data = seb_study.read_set(
        str(shared_file("seb_clusters/SeBn/B=20.npz").relative_to(seb_study.SEB_DATA))
    )
    metrics = seb_study.constant_predictor(data, seed=0)
    per_atom = seb_study.hartree_per_atom(metrics, "test_energy_mae_meV_per_atom")
    assert 0.10 < per_atom < 0.14
    per_structure_ha = metrics["test_energy_mae_eV"] / seb_study.HARTREE_EV
    # read per structure (21 atoms), the published SchNet would be no better than a constant
    assert per_structure_ha > 2.0
    assert metrics["test_energy_mae_eV_clean"] != metrics["test_energy_mae_eV"]


def test_the_budget_says_when_it_is_reduced() -> None:
    assert "REDUCED" in seb_study.Budget(12, 6, [0, 1, 2]).describe()
    assert "published budget" in seb_study.Budget(100, 100, [0, 1, 2]).describe()
    with pytest.raises(SystemExit):
        ablation_seb.main(["--smoke", "--full"])


def test_a_used_runs_dir_or_a_bad_accelerator_is_refused_before_anything_is_made(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    earlier = tmp_path / "runs"
    earlier.mkdir()
    (earlier / "best.ckpt").write_text("an earlier run")
    for argv, message in (
        (["--smoke", "--runs-dir", str(earlier)], f"--runs-dir {earlier} already holds files"),
        (["--smoke", "--accelerator", "tpu"], "unknown accelerator 'tpu'"),
    ):
        with pytest.raises(SystemExit) as stopped:
            source_tasks_seb.main(argv)
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no MLflow store made
    assert (earlier / "best.ckpt").read_text() == "an earlier run"


def test_the_committed_100_epoch_cells_match_what_todays_code_asks() -> None:
    """A setting added since the cells were recorded must not make every committed cell refused."""
    shared_file("seb_clusters/SeBn/B=20.npz")
    import sweep_vs_paper

    committed = BENCHMARKS / "results"
    budget = ["--epochs", "100", "--source-epochs", "100", "--seeds", "3", "--table-only"]
    ablation = str(committed / "seb-ablation-100ep")
    table = ablation_seb.main([*budget, "--cells-dir", ablation])
    for row in ("SchNet", "+IIA", "+SMU", "+IIA+SMU"):
        assert [run.seed for run in table.runs[row]] == [0, 1, 2]
    swept = sweep_vs_paper.main(
        [
            *budget,
            "--budget",
            "2000",
            "--max-epochs",
            "100",
            "--cells-dir",
            str(committed / "seb-sweep-vs-paper-100ep"),
            "--reference-cells",
            ablation,
        ]
    )
    [best] = [runs for name, runs in swept.runs.items() if name.startswith("the sweep's best")]
    assert [run.seed for run in best] == [0, 1, 2]


def test_the_goal_lines_wait_for_the_first_retraining_of_the_best() -> None:
    """--table-only between the sweep and the first retraining of its best."""
    import sweep_vs_paper

    table = seb_study.Table("t", seb_study.Budget(100, 100, [0, 1, 2]), {})
    lines = sweep_vs_paper.goals(table, 600, {"lr": 1e-3})
    assert lines[0].startswith("The sweep spent 600 trial-epochs: 0.0267%")
    assert lines[-1] == "No retraining of the sweep's best has finished yet."


def test_search_loss_adds_the_loss_and_a_cell_records_it_only_when_changed() -> None:
    """--search-loss: the sweep's space gains the loss; committed cells (the RMSE) still match."""
    import sweep_vs_paper

    from search_spaces.space import parse_space

    searched = parse_space(sweep_vs_paper.sweep_space(False, "cpu", search_loss=True))
    assert searched.parameter("loss").distribution.choices == ("rmse", "mae")
    with pytest.raises(KeyError):
        parse_space(sweep_vs_paper.sweep_space(False, "cpu")).parameter("loss")
    budget = seb_study.Budget(100, 100, [0])
    settings = {
        loss: seb_study.training_cell(
            "best/seed-0",
            seb_study.TARGET,
            budget,
            budget.training_config({}, 100, 0, None, loss=loss),
            "row",
            0,
        ).settings["config"]
        for loss in ("rmse", "mae")
    }
    assert "loss" not in settings["rmse"] and settings["mae"]["loss"] == "mae"
