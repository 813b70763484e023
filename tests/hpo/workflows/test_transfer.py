"""Fine-tuning strategies, continuous transfer chains, subsets and scratch-vs-transfer tests."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from scipy import stats

from hpo.runtime.errors import PromotionError
from hpo.study.trial_record import trial_result
from hpo.workflows.chain import compare_transfer, run_chain, summarise_chain
from hpo.workflows.finetune import STRATEGIES, finetune
from hpo.workflows.promotion import describe_models
from lightning_modules.data import load_data
from lightning_modules.data.emt_data import emt_clusters
from lightning_modules.data.subsets import random_subset, select_by_elements, write_extxyz
from lightning_modules.training.config import ConfigError, make_config
from lightning_modules.training.run import train
from lightning_modules.training.task import load_task
from tests.support.commands import run_cli
from tests.support.data import shared_file

SMALL = dict(n_atom_basis=16, n_interactions=2, n_rbf=10, cutoff=5.0)


@pytest.fixture(scope="module")
def pretrained(emt_file, tmp_path_factory) -> str:
    config = make_config(
        dict(
            data=[str(emt_file)],
            model_config=SMALL,
            alpha=0.5,
            lr=3e-3,
            batch_size=16,
            max_epochs=15,
            seed=4,
            progress_bar=False,
            output_dir=str(tmp_path_factory.mktemp("pretrain")),
        )
    )
    return train(config, log_audit=False).checkpoint_path


@pytest.fixture
def tracking(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_frozen_parts_stay_bit_identical(
    pretrained, small_emt_file, tracking, tmp_path, strategy
) -> None:
    before = load_task(pretrained).model
    tuned = finetune(
        pretrained,
        [str(small_emt_file)],
        tracking,
        strategy=strategy,
        lr=1e-2,
        max_epochs=2,
        output_dir=str(tmp_path / "ft"),
    )
    after = load_task(tuned.result.checkpoint_path).model
    groups_before, groups_after = before.parameter_groups(), after.parameter_groups()
    for name in groups_before:
        same = all(
            torch.equal(a, b) for a, b in zip(groups_before[name], groups_after[name], strict=False)
        )
        assert same == (name in tuned.frozen), (strategy, name)
    run = MlflowClient(tracking).get_run(tuned.run_id)
    assert run.data.tags["pesweep.parent_model_version"] == pretrained
    assert run.data.tags["pesweep.strategy"] == strategy


def test_finetuning_starts_from_the_pretrained_model(
    pretrained, small_emt_file, tracking, tmp_path
) -> None:
    tuned = finetune(
        pretrained,
        [str(small_emt_file)],
        tracking,
        lr=1e-4,
        max_epochs=1,
        output_dir=str(tmp_path / "ft"),
    )
    scratch = train(
        make_config(
            dict(
                data=[str(small_emt_file)],
                model_config=SMALL,
                alpha=0.5,
                lr=1e-4,
                batch_size=16,
                max_epochs=1,
                progress_bar=False,
                output_dir=str(tmp_path / "scratch"),
            )
        ),
        log_audit=False,
    )
    assert (
        tuned.result.history[0]["val_force_mae_eV_per_A"]
        < 0.5 * scratch.history[0]["val_force_mae_eV_per_A"]
    )


def test_finetune_without_tracking_logs_no_run(pretrained, small_emt_file, tmp_path) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ConfigError, match="drop --no-tracking"):
        finetune(pretrained, [str(small_emt_file)], tracking, promote_as="cuau", track=False)
    tuned = finetune(
        pretrained,
        [str(small_emt_file)],
        tracking,
        max_epochs=1,
        output_dir=str(tmp_path / "tuned"),
        track=False,
    )
    assert tuned.run_id == "" and Path(tuned.result.checkpoint_path).is_file()
    assert not (tmp_path / "mlflow.db").exists()


def test_other_cutoff_or_no_checkpoint_fails_and_registers_nothing(
    pretrained, small_emt_file, tracking, tmp_path
) -> None:
    with pytest.raises(ConfigError, match="has cutoff 5 A, not 7 A"):
        finetune(pretrained, [str(small_emt_file)], tracking, cutoff=7.0, promote_as="cuau")
    bogus = tmp_path / "bogus.ckpt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="is not a pesweep checkpoint"):
        finetune(str(bogus), [str(small_emt_file)], tracking, promote_as="cuau")
    with pytest.raises(PromotionError, match="no registered model"):
        describe_models(tracking, "cuau")


def test_three_stage_chain_registers_versions_with_parent_links(tracking, tmp_path) -> None:
    files = []
    for n in (16, 17, 18):
        with np.load(shared_file(f"seb_clusters/SeBn/B={n}.npz")) as archive:
            path = tmp_path / f"SeBn/B={n}.npz"
            path.parent.mkdir(exist_ok=True)
            np.savez(path, R=archive["R"][:40], E=archive["E"][:40], z=archive["z"])
            files.append(str(path))
    base = make_config(
        dict(
            data=[files[0]],
            energy_unit="hartree",
            model_config=SMALL,
            max_epochs=2,
            batch_size=20,
            progress_bar=False,
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages = run_chain(
            files, base, tracking, "seb", compare_direct=True, runs_dir=str(tmp_path / "chain")
        )
    assert [s.version for s in stages] == ["1", "2", "3"]
    table = summarise_chain(stages)
    assert all(f"  {path}\n" in table + "\n" for path in files)  # whole paths, never cut
    versions = {row["version"]: row for row in describe_models(tracking, "seb")}
    assert versions[1]["parent"] == ""
    assert versions[2]["parent"] == "seb/1"
    assert versions[3]["parent"] == "seb/2"
    assert versions[3]["aliases"] == ["chain-latest"]
    assert stages[2].direct_test_energy_mae is not None
    # each version records how its references came about: fitted, then refitted from the parent
    assert "B" in versions[1]["tags"]["element_references"]
    assert "fitted" in versions[1]["tags"]["element_references"]
    assert "refitted from" in versions[2]["tags"]["element_references"]
    # the parent by its registered name, not the download cache's file
    assert "refitted from seb/1" in versions[2]["tags"]["element_references"]
    assert "models" not in versions[3]["tags"]["element_references"].replace("seb/2", "")
    shown = run_cli("models", "show", "seb", "--tracking-uri", tracking, cwd=tmp_path)
    assert shown.returncode == 0 and "  element references:\n" in shown.stdout
    assert "refitted from" in shown.stdout
    assert "  lineage: seb/3 <- seb/2 <- seb/1\n" in shown.stdout  # the whole chain
    params = versions[3]["tags"]["params"]
    assert f"    params: {params}\n" in shown.stdout  # every tag whole, not cut
    # an MLflow tracking URI from the environment, as MLflow's own tools take it
    as_json = run_cli(
        "models",
        "show",
        "seb",
        "--json",
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking},
    )
    assert as_json.returncode == 0, as_json.stderr
    rows = {row["version"]: row for row in json.loads(as_json.stdout)}
    assert rows[3]["lineage"] == ["seb/3", "seb/2", "seb/1"]
    assert rows[3]["tags"] == versions[3]["tags"]
    elsewhere = run_cli(
        "models",
        "list",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'none.db'}",
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking},
    )
    assert elsewhere.returncode == 2 and "no MLflow tracking store" in elsewhere.stderr  # flag wins


def mixed_set() -> list:
    frames = (
        emt_clusters(2, seed=1, elements=("Cu",))
        + emt_clusters(2, seed=2, elements=("Au",))
        + emt_clusters(2, seed=3, elements=("Cu", "Au"))
        + emt_clusters(2, seed=4, elements=("Cu", "Ag"))
    )
    return frames


def test_subset_modes_select_the_expected_structures(tmp_path) -> None:
    import ase.io

    ase.io.write(tmp_path / "mixed.xyz", mixed_set())
    data = load_data(tmp_path / "mixed.xyz")
    assert select_by_elements(data, ["Cu"], "any").tolist() == [0, 1, 4, 5, 6, 7]
    assert select_by_elements(data, ["Cu", "Au"], "all").tolist() == [4, 5]
    assert select_by_elements(data, ["Cu", "Au"], "only").tolist() == [0, 1, 2, 3, 4, 5]
    out = write_extxyz(data.subset([4, 5]), tmp_path / "cuau.xyz")
    again = load_data(out)
    np.testing.assert_allclose(again.energy, data.energy[[4, 5]])
    np.testing.assert_allclose(again.forces, data.subset([4, 5]).forces)


def test_stratified_random_subset_follows_the_energy_distribution(seb20) -> None:
    chosen = random_subset(seb20, 200, seed=0, stratify_energy=True)
    assert len(chosen) == len(set(chosen.tolist())) == 200
    per_atom = seb20.energy / seb20.n_atoms
    edges = np.quantile(per_atom, np.linspace(0, 1, 11))
    counts = np.histogram(per_atom[chosen], bins=edges)[0]
    assert counts.min() >= 19 and counts.max() <= 21  # 20 per decile


def test_compare_p_value_matches_scipy_on_logged_numbers(
    pretrained, small_emt_file, tracking, monkeypatch
) -> None:
    import hpo.workflows.finetune

    def resolved_again(*args):
        raise AssertionError("compare resolves (downloads) the source once, not once per seed")

    monkeypatch.setattr(hpo.workflows.finetune, "resolve_checkpoint", resolved_again)
    comparison = compare_transfer(
        pretrained, [str(small_emt_file)], tracking, seeds=[0, 1, 2], max_epochs=1
    )
    client = MlflowClient(tracking)
    for name in ("test_energy_rmse_eV", "test_force_rmse_eV_per_A"):
        scratch = [
            m.value
            for m in sorted(
                client.get_metric_history(comparison.run_id, f"scratch_{name}"),
                key=lambda m: m.step,
            )
        ]
        transfer = [
            m.value
            for m in sorted(
                client.get_metric_history(comparison.run_id, f"transfer_{name}"),
                key=lambda m: m.step,
            )
        ]
        assert len(scratch) == len(transfer) == 3
        expected = stats.ttest_rel(scratch, transfer).pvalue
        logged = client.get_run(comparison.run_id).data.metrics[f"p_{name}"]
        assert logged == pytest.approx(expected, rel=1e-6)
    assert "p (paired t)" in comparison.table()


def test_finetuning_sweep_starts_every_trial_from_the_pretrained_model(
    pretrained, sweep_options, tmp_path
) -> None:
    from optuna.trial import TrialState

    from hpo.sweep.runner import run_sweep

    space = tmp_path / "finetune.yaml"
    space.write_text(
        "params:\n  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n"
        "  strategy: {type: categorical, choices: [full, head-only]}\n"
    )
    outcome = run_sweep(
        sweep_options(space=str(space), init_from=pretrained, n_trials=4, sampler="random", seed=3)
    )
    trials = [t for t in outcome.study.trials if t.state == TrialState.COMPLETE]
    assert {t.params["strategy"] for t in trials} == {"full", "head-only"}
    before = load_task(pretrained).model.parameter_groups()
    for trial in trials:
        model = load_task(trial_result(trial)["checkpoint_path"]).model
        representation_same = all(
            torch.equal(a, b)
            for a, b in zip(
                before["representation"], model.parameter_groups()["representation"], strict=False
            )
        )
        assert representation_same == (trial.params["strategy"] == "head-only")


def test_a_finetuning_sweep_of_an_aenet_model_trains_and_records_aenet_trials(
    small_emt_file, sweep_options, tracking, tmp_path
) -> None:
    """A space that names no model (``aenet_finetune``'s training settings) means the
    pretrained model's, not the default SchNet, in the trials' configs and MLflow params."""
    from hpo.sweep.runner import run_sweep

    aenet = dict(
        species=["Cu", "Au"], radial_order=4, radial_cutoff=4.0, angular_order=2, angular_cutoff=3.5
    )
    pretrained = train(
        make_config(
            dict(
                data=[str(small_emt_file)],
                model="aenet",
                model_config={**aenet, "hidden_layers": 1, "hidden_width": 4},
                max_epochs=1,
                progress_bar=False,
                output_dir=str(tmp_path / "pre"),
            )
        ),
        log_audit=False,
    ).checkpoint_path
    space = tmp_path / "finetune.yaml"
    space.write_text("params:\n  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n")
    outcome = run_sweep(
        sweep_options(space=str(space), init_from=pretrained, n_trials=1, tracking_uri=tracking)
    )
    [trial] = outcome.study.trials
    assert load_task(trial_result(trial)["checkpoint_path"]).hparams["model_name"] == "aenet"
    run = MlflowClient(tracking).get_run(trial.user_attrs["mlflow_run_id"])
    assert run.data.params["config.model"] == "aenet"


def test_finetuning_sweep_refuses_architecture_parameters(pretrained, sweep_options) -> None:
    from hpo.runtime.errors import StudyError
    from hpo.sweep.runner import run_sweep

    with pytest.raises(StudyError, match="may not sample n_atom_basis"):
        run_sweep(sweep_options(init_from=pretrained))


def test_new_elements_in_the_target_are_named(pretrained, tracking, tmp_path) -> None:
    import ase.io

    from lightning_modules.data import DataWarning

    target = tmp_path / "cuag.xyz"
    ase.io.write(target, emt_clusters(40, seed=9, elements=("Cu", "Ag")))
    with pytest.warns(DataWarning, match=r"elements \['Ag'\] were absent from the pretraining"):
        tuned = finetune(
            pretrained, [str(target)], tracking, max_epochs=1, output_dir=str(tmp_path / "ft")
        )
    assert 47 in load_task(tuned.result.checkpoint_path).model.energy_reference().element_energy
