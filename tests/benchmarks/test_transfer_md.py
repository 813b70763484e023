"""``transfer_md.py`` end to end on GFN1-xTB smoke data: every stage a cell, resumed, refused."""

from __future__ import annotations

import importlib.util

import pytest

from tests.support.commands import BENCHMARKS, run_benchmark


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    if importlib.util.find_spec("tblite") is None:
        pytest.skip("tblite is not installed: pip install -e '.[xtb]'")
    folder = tmp_path_factory.mktemp("cuau")
    done = run_benchmark("make_cuau_water.py", "--out", "data", "--smoke", cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "data"


def table(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("|")]


def test_transfer_md_runs_every_stage_as_cells_and_a_rerun_trains_nothing(
    smoke_data, tmp_path
) -> None:
    options = ("--smoke", "--architectures", "aenet", "--subsets", "cu-or-au")
    cells = tmp_path / "cells"
    arguments = ("--data", str(smoke_data), *options, "--cells-dir", str(cells))
    done = run_benchmark("transfer_md.py", *arguments, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = table(done.stdout)
    assert rows[2].startswith("| aenet | scratch | 1 | ")
    transfer = rows[3].split(" | ")
    assert transfer[:3] == ["| aenet", "cu-or-au", "1"]
    assert "(one seed)" in transfer[5]  # its difference to scratch, paired by seed
    recorded = sorted(str(p.relative_to(cells)) for p in cells.rglob("*.json"))
    assert recorded == [
        "fit/aenet/cu-or-au/pre-0/seed-0.json",
        "fit/aenet/scratch/seed-0.json",
        "md-long/aenet/cu-or-au/pre-0/seed-0.json",
        "md-long/aenet/scratch/seed-0.json",
        "md/aenet/cu-or-au/pre-0/seed-0.json",
        "md/aenet/scratch/seed-0.json",
        "pretrain/aenet/cu-or-au/seed-0.json",
    ]
    model = cells / "fit/aenet/scratch/seed-0.ckpt"
    assert model.exists()  # the MD cells' model
    speed = run_benchmark(
        "md_check_speed.py",
        *(
            "--data",
            str(smoke_data),
            "--checkpoint",
            str(model),
            "--before",
            str(BENCHMARKS.parent),
        ),
        *("--steps", "6", "--repeats", "1", "--replicas", "2", "--frame-every", "2"),
        cwd=tmp_path,
    )  # this checkout against itself: the same trajectory
    assert speed.returncode == 0, speed.stderr[-3000:]
    assert "this checkout, 2 seeds at once" in speed.stderr
    assert "seed 0's positions differ by at most 0 A" in speed.stderr
    repulsion = ("repulsion_md.py", "--data", str(smoke_data), "--checkpoint", str(model))
    short = ("--ps", "0.01", "--seeds", "0", "1")
    done = run_benchmark(*repulsion, *short, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    checks = [line.split(" | ") for line in table(done.stdout)[2:]]
    assert [check[1] for check in checks] == ["none", "0.8"]  # the same weights, without and with
    assert all(check[3] in ("0/2", "1/2", "2/2") for check in checks)
    refused = run_benchmark(*repulsion, *short, "--onset", "2.5", cwd=tmp_path)
    assert refused.returncode == 2
    assert "below the onset 2.5: the repulsion would change the training" in refused.stderr
    again = run_benchmark("transfer_md.py", *arguments, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cells done" not in again.stderr and table(again.stdout) == rows
    other = run_benchmark("transfer_md.py", *arguments, "--md-ps", "0.02", cwd=tmp_path)
    assert other.returncode != 0
    assert "cell md/aenet/scratch/seed-0" in other.stderr
    assert "ran with other settings (spec.time_ps=0.01 there, 0.02 now)" in other.stderr


def test_transfer_md_names_missing_data_before_it_trains(tmp_path) -> None:
    done = run_benchmark("transfer_md.py", "--data", str(tmp_path), "--smoke", cwd=tmp_path)
    assert done.returncode == 2
    assert "lacks pretrain.extxyz, target.extxyz, cu7au6_6h2o.xyz" in done.stderr
    assert "make_cuau_water.py --out" in done.stderr


def seed_drawing_both_repulsions() -> int:
    """The first study seed whose first two trials of ``aenet_finetune`` draw both
    ``core_repulsion`` values, with the sweep's own sampler (TPE's random start-up
    trials depend on the seed alone, not on the trials' results)."""
    import optuna

    from hpo.study.registries import build_sampler
    from search_spaces.space import load_space
    from search_spaces.suggest import suggest

    space = load_space("aenet_finetune")
    for seed in range(20):
        sampler = build_sampler("tpe", seed, space, constrained=True)
        study = optuna.create_study(sampler=sampler)
        drawn = set()
        for _ in range(2):
            trial = study.ask()
            drawn.add(suggest(trial, space)["core_repulsion"])
            study.tell(trial, 1.0)
        if drawn == {0.0, 0.8}:
            return seed
    raise AssertionError("no seed below 20 draws both core_repulsion values in two trials")


@pytest.mark.slow
def test_the_stable_potential_recipe_runs_as_documented(smoke_data, tmp_path) -> None:
    """docs/benchmarks/transfer-md.md's recipe at smoke scale: pretrain, promote, a
    fine-tuning sweep under an MD constraint, and the MD gate (which 2-epoch models fail).

    At this scale the fine-tuning sweep runs two trials of two epochs, unpruned (a
    pruned trial keeps no model to look at), from a seed that draws the repulsion in
    one trial and not in the other."""
    import os

    from tests.support.commands import run_cli

    environment = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "PESWEEP_STORAGE": f"sqlite:///{tmp_path}/studies.db",
    }
    md = tmp_path / "md.yaml"
    md.write_text(f"structure: {smoke_data / 'cu7au6_6h2o.xyz'}\ntime_ps: 0.01\nnve_ps: 0\n")
    pretrain, target = smoke_data / "pretrain.extxyz", smoke_data / "target.extxyz"
    recipe = [
        ["subset", "--data", str(pretrain), "--elements", "Cu,Au", "--mode", "any"]
        + ["--out", "cu_or_au.extxyz"],
        ["sweep", "--study", "cuau-pretrain", "--space", "aenet", "--data", "cu_or_au.extxyz"]
        + ["--n-trials", "1", "--max-epochs", "2", "--no-progress-bar"],
        ["promote", "--study", "cuau-pretrain", "--model-name", "cuau-aenet"],
        ["sweep", "--study", "cuau-finetune", "--space", "aenet_finetune", "--data", str(target)]
        + ["--init-from", "models:/cuau-aenet@pretrained", "--md-constraint", str(md)]
        + ["--n-trials", "2", "--max-epochs", "2", "--no-progress-bar", "--pruner", "none"]
        + ["--seed", str(seed_drawing_both_repulsions())],
    ]
    outputs = []
    for command in recipe:
        done = run_cli(*command, cwd=tmp_path, env=environment)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
        outputs.append(done.stdout + done.stderr)
    assert "cuau-aenet version 1 is now @pretrained" in outputs[2]
    assert "refitted from cuau-aenet/1" in outputs[3]  # every trial starts from the model
    import optuna

    from hpo.study.trial_record import trial_result
    from lightning_modules.training.task import load_task

    study = optuna.load_study(study_name="cuau-finetune", storage=environment["PESWEEP_STORAGE"])
    repulsion_of_feasible = []
    for trial in study.trials:  # the space's core_repulsion reaches each trial's model
        model = load_task(trial_result(trial)["checkpoint_path"]).model
        assert model.settings.core_repulsion == trial.params["core_repulsion"]
        if trial.constraints and max(trial.constraints.values()) <= 0:  # none when pruned
            repulsion_of_feasible.append(trial.params["core_repulsion"])
    gate = ["promote", "--study", "cuau-finetune", "--model-name", "cuau-aenet"]
    done = run_cli(
        *gate, "--alias", "stable", "--require-md", str(md), cwd=tmp_path, env=environment
    )
    # 2-epoch models without the repulsion fail even this short check; with it they pass
    assert repulsion_of_feasible and set(repulsion_of_feasible) == {0.8}
    assert done.returncode == 0, done.stderr[-2000:]
    assert "passed the MD check: PASS" in done.stderr
    assert "cuau-aenet version 2 is now @stable" in done.stdout


def test_first_peaks_are_found_under_the_studys_pair_names() -> None:
    import sys

    import numpy as np

    from lightning_modules.md import pair_distributions
    from tests.support.commands import BENCHMARKS

    sys.path.insert(0, str(BENCHMARKS))
    import transfer_cells

    numbers = np.array([79, 8, 29])  # Au, O, Cu: Au-O 2.2 A, Cu-O 1.95 A
    rng = np.random.default_rng(0)
    frames = [
        np.array([[0.0, 0, 0], [2.2, 0, 0], [2.2, 1.95, 0]]) + rng.normal(0, 0.01, (3, 3))
        for _ in range(50)
    ]
    peaks = transfer_cells.first_peaks(pair_distributions(numbers, frames))
    assert set(peaks) == {"Au-O", "Cu-O"}  # the rdf module calls them O-Au and O-Cu
    assert abs(peaks["Au-O"] - 2.2) < 0.06 and abs(peaks["Cu-O"] - 1.95) < 0.06


def test_repulsion_md_takes_the_repulsion_off_a_model_trained_with_it() -> None:
    import sys

    from lightning_modules.models.registry import build_model
    from tests.support.commands import BENCHMARKS

    sys.path.insert(0, str(BENCHMARKS))
    import repulsion_md

    config = dict(species=["Cu"], radial_order=4, angular_order=2, core_repulsion=0.8)
    model = build_model("aenet", config)
    without = repulsion_md.with_repulsion(model, 0.0)
    assert without.core_repulsion is None
    assert without.settings.core_repulsion == 0.0
    assert repulsion_md.with_repulsion(model, 0.9).core_repulsion.onset == 0.9
    for name, value in model.state_dict().items():  # the same weights and buffers
        assert without.state_dict()[name].equal(value), name
