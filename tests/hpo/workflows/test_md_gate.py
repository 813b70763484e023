"""``pesweep md-check`` and ``promote --require-md`` on a model trained here (EMT Cu/Au data)."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from hpo.cli.main import main
from hpo.runtime.errors import PromotionError
from hpo.sweep.runner import run_sweep
from hpo.workflows.promotion import describe_models, promote_best_trial
from lightning_modules.data.emt_data import emt_clusters
from lightning_modules.md import MDSpec


@pytest.fixture(scope="module")
def swept(tmp_path_factory, small_emt_file):
    """One trained trial of a sweep (its MLflow run holds the model)."""
    from tests.support.sweeps import TINY_SPACE, tiny_sweep_options

    folder = tmp_path_factory.mktemp("md-sweep")
    (folder / "tiny.yaml").write_text(TINY_SPACE)
    space = folder / "tiny.yaml"
    options = tiny_sweep_options(
        folder, space, small_emt_file, study_name="md-study", n_trials=1, max_epochs=3
    )
    return run_sweep(options)


@pytest.fixture
def cluster_file(tmp_path: Path) -> Path:
    path = tmp_path / "cu_au.xyz"
    ase.io.write(path, emt_clusters(n_structures=1, seed=41)[0])
    return path


def checkpoint_of(swept) -> str:
    from hpo.study.trial_record import trial_result

    return trial_result(swept.study.best_trial)["checkpoint_path"]


SHORT = ["--time-ps", "0.02", "--nve-ps", "0.01", "--timestep", "0.5"]


def test_md_check_reports_stores_and_tracks_the_run(swept, cluster_file, tmp_path, capsys):
    tracking = f"sqlite:///{tmp_path / 'checks.db'}"
    out = tmp_path / "check"
    code = main(
        ["md-check", "--model", checkpoint_of(swept), "--structure", str(cluster_file), *SHORT]
        + ["--contact-fraction", "0.5", "--tracking-uri", tracking, "--output-dir", str(out)]
        + ["--reference", str(cluster_file), "--spot-check", "emt"]
    )
    printed = capsys.readouterr().out
    report = json.loads((out / "md_report.json").read_text())
    assert code == (0 if report["passed"] else 1)
    assert printed.splitlines()[0].endswith(
        report["summary"]
        + "; RDF distance to the reference "
        + f"{report['rdf_distance']['mean']:.3f}"
    )
    assert report["spec"]["time_ps"] == 0.02 and report["spec"]["contact_fraction"] == 0.5
    # the data's own calculator labelled frames of the trajectory, the first one included
    assert report["spec"]["spot_check"] == "emt" and report["spot_checks"][0]["time_ps"] == 0.0
    assert all(check["force_rmse_eV_per_A"] >= 0 for check in report["spot_checks"])
    frames = ase.io.read(out / "trajectory.extxyz", index=":")
    assert len(frames) >= 1 and "Cu-Cu" in (out / "pair_distributions.html").read_text()
    [run] = MlflowClient(tracking).search_runs(
        [MlflowClient(tracking).get_experiment_by_name("pesweep-md-check").experiment_id]
    )
    assert run.data.tags["pesweep.md_check"] == ("PASS" if report["passed"] else "FAIL")
    assert run.data.params["md.time_ps"] == "0.02"
    assert run.data.metrics["md_stable_ps"] == pytest.approx(report["stable_ps"])
    assert run.data.metrics["md_spot_check_max_force_rmse"] == pytest.approx(
        max(check["force_rmse_eV_per_A"] for check in report["spot_checks"]), abs=1e-4
    )
    logged = {a.path for a in MlflowClient(tracking).list_artifacts(run.info.run_id, "md_check")}
    assert logged == {
        "md_check/trajectory.extxyz",
        "md_check/md_report.json",
        "md_check/pair_distributions.html",
    }
    # a second check into the same folder is refused: nothing is overwritten without a flag
    again = main(
        [
            "md-check",
            "--model",
            checkpoint_of(swept),
            "--structure",
            str(cluster_file),
            *SHORT,
            "--no-mlflow",
            "--output-dir",
            str(out),
        ]
    )
    assert again == 2 and "--overwrite" in capsys.readouterr().err


def test_md_check_refuses_bad_input_before_anything_is_made(swept, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    water_file = tmp_path / "water.xyz"
    ase.io.write(water_file, ase.Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [0, 0.96, 0]]))
    selenium_file = tmp_path / "se2.xyz"
    ase.io.write(selenium_file, ase.Atoms("Se2", positions=[[0, 0, 0], [2.2, 0, 0]]))
    cases = {
        "O, which the model was not trained on": ["--structure", str(water_file)],
        "absent.xyz: no such file": ["--structure", "absent.xyz"],
        "give --structure FILE": [],
        "thermostat": ["--structure", str(water_file), "--thermostat", "nose"],
        "EMT has no parameters for Se": ["--structure", str(selenium_file), "--spot-check", "emt"],
    }
    for expected, extra in cases.items():
        with pytest.raises(SystemExit) if expected == "thermostat" else _no_raise():
            code = main(["md-check", "--model", checkpoint_of(swept), *extra])
            assert code == 2
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]  # argparse prints its usage above the error line
        assert last.startswith("pesweep") and expected in last, err
    assert not list(tmp_path.glob("mlflow.db")) and not (tmp_path / "pesweep_runs").exists()


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_promote_requires_md_stability(swept, cluster_file, tmp_path):
    tracking = swept.tracking
    failing = MDSpec(
        structure=str(cluster_file),
        time_ps=0.01,
        nve_ps=0,
        contact_fraction=1.5,
        bond_break_factor=2.0,
    )
    with pytest.raises(PromotionError, match=r"failed the MD check, FAIL at 0 ps: close contact"):
        promote_best_trial(swept.study, tracking, "md-gated", require_md=failing)
    [row] = describe_models(tracking, "md-gated")
    assert row["aliases"] == [] and row["tags"]["md_check"] == "FAIL"
    assert row["tags"]["md_failure"].startswith("close contact")
    passing = failing.replace(
        contact_fraction=0.3,
        temperature_factor=1000.0,
        escape_distance=50.0,
        spot_check="emt",
        spot_check_max_force_rmse=1e3,
    )
    moved = promote_best_trial(swept.study, tracking, "md-gated", require_md=passing)
    assert moved.moved and moved.version == row["version"].__str__()
    [row] = describe_models(tracking, "md-gated")
    assert row["aliases"] == ["pretrained"] and row["tags"]["md_check"] == "PASS"
    # the version says how far the data's calculator agreed along the trajectory
    assert row["tags"]["md_spot_check"].startswith("1 checked, force RMSE <= ")
    assert float(row["tags"]["md_stable_ps"]) == pytest.approx(0.01)
    # the CLI refuses a spec whose structure is missing before touching the registry
    spec = tmp_path / "md.yaml"
    spec.write_text("structure: nowhere.xyz\ntime_ps: 0.01\n")
    storage = f"sqlite:///{tracking.local_file.parent / 'optuna.db'}"
    code = main(
        ["promote", "--study", "md-study", "--storage", storage, "--model-name", "other"]
        + ["--require-md", str(spec), "--tracking-uri", tracking.uri]
    )
    assert code == 2
    assert describe_models(tracking, "md-gated") and not [
        r for r in describe_models(tracking) if r["name"] == "other"
    ]


def test_md_constraint_marks_a_failing_trial_infeasible(sweep_options, cluster_file, tmp_path):
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    spec = tmp_path / "strict.yaml"  # every bonded pair is a "contact": fails at 0 ps
    spec.write_text(
        f"structure: {cluster_file}\ntime_ps: 0.01\nnve_ps: 0\n"
        "contact_fraction: 1.5\nbond_break_factor: 2.0\n"
    )
    outcome = run_sweep(
        sweep_options(
            n_trials=2,
            max_epochs=1,
            sampler="tpe",
            md_constraint=str(spec),
            objectives=("energy_mae", "md_stable_ps"),
        )
    )
    study = outcome.study
    assert study.directions == [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE]
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 2
    for trial in trials:
        assert trial.user_attrs["md_check"]["passed"] is False
        assert trial.user_attrs["md_check"]["reason"].startswith("close contact")
        assert trial.values[1] == 0.0  # stable for 0 ps
        assert trial.constraints == {"md_stability": pytest.approx(0.01)}  # infeasible
    run = MlflowClient(outcome.tracking.uri).get_run(trials[0].user_attrs["mlflow_run_id"])
    assert run.data.tags["pesweep.md_check"] == "FAIL" and run.data.metrics["md_stable_ps"] == 0


def test_a_sweep_whose_every_trial_fails_its_md_constraint_ends_cleanly(
    sweep_options, cluster_file, tmp_path, capsys
):
    from hpo.cli.commands.sweep import print_summary
    from hpo.runtime.errors import StudyError

    spec = tmp_path / "strict.yaml"  # every bonded pair is a "contact": fails at 0 ps
    spec.write_text(f"structure: {cluster_file}\ntime_ps: 0.01\nnve_ps: 0\ncontact_fraction: 1.5\n")
    outcome = run_sweep(
        sweep_options(n_trials=2, max_epochs=1, sampler="tpe", md_constraint=str(spec))
    )  # raised Optuna's "No feasible trials are completed yet." when it closed its parent run
    assert len(outcome.study.get_trials(states=(TrialState.COMPLETE,))) == 2
    parent = MlflowClient(outcome.tracking.uri).get_run(outcome.parent_run_id)
    assert parent.info.status == "FINISHED" and "best_trial" not in parent.data.tags
    print_summary(outcome, None)
    assert "no feasible trial: every complete trial's model failed" in capsys.readouterr().out
    with pytest.raises(StudyError, match="no feasible finished trial: all 2 failed the --md-"):
        promote_best_trial(outcome.study, outcome.tracking, "never")


def test_md_objective_needs_a_check_and_a_structure_of_the_datas_elements(
    sweep_options, tmp_path, cluster_file
):
    from hpo.runtime.errors import StudyError
    from lightning_modules.errors import PesweepError

    with pytest.raises(StudyError, match="md_stable_ps objective needs the MD check"):
        run_sweep(sweep_options(objectives=("md_stable_ps",)))
    water_file = tmp_path / "water.xyz"
    ase.io.write(water_file, ase.Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [0, 0.96, 0]]))
    selenium_file = tmp_path / "se2.xyz"
    ase.io.write(selenium_file, ase.Atoms("Se2", positions=[[0, 0, 0], [2.2, 0, 0]]))
    spec = tmp_path / "md.yaml"
    spec.write_text(f"structure: {water_file}\n")
    with pytest.raises(PesweepError, match="holds H, O, which the data do not"):
        run_sweep(sweep_options(md_spec=str(spec), objectives=("md_stable_ps",)))
    spec.write_text(f"structure: {cluster_file}\n")
    with pytest.raises(StudyError, match="sampler 'random' takes no constraints"):
        run_sweep(sweep_options(md_constraint=str(spec), sampler="random"))
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "mlflow.db").exists()
