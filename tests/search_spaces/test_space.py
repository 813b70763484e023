"""Space files: the shipped Table 1, validation errors, conditions, grids, config merging."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from lightning_modules.training.config import TrainConfig
from search_spaces.space import SpaceError, load_space, parse_space
from search_spaces.suggest import grid, grid_size, suggest, to_train_config


def test_table1_is_the_papers_search_space() -> None:
    space = load_space("schnet_table1")
    assert space.models == ("schnet",)
    values = grid(space)
    assert values["n_atom_basis"] == [32, 64, 128, 256, 512]
    assert values["n_interactions"] == list(range(2, 11))
    assert values["n_rbf"] == [10, 20, 30, 40, 50]
    assert values["cutoff"] == [5.0, 6.0, 7.0, 8.0, 9.0]
    assert values["n_embedding"] == [100, 200, 300, 400, 500]
    assert values["lr"] == [1e-4, 5e-5, 1e-5, 5e-6]
    assert values["attention"] == [True, False]
    assert values["activation"] == ["shifted_softplus", "smu"]
    assert grid_size(space) == 5 * 9 * 5 * 5 * 5 * 4 * 2 * 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("  n_layers: {type: int, low: 1, high: 3}", "'n_layers' is not taken by model 'schnet'"),
        ("  n_atom_basis: {type: categorical, choices: []}", "choices must be a non-empty list"),
        (
            "  n_rbf: {type: int, low: 30, high: 10}",
            "`low <= high` must hold, but got (low=30, high=10)",
        ),
        (
            "  lr: {type: float, low: 0.0, high: 1.0, log: true}",
            "`low > 0` must hold for `log=True`",
        ),
        ("  lr: {type: gaussian, low: 0.0, high: 1.0}", "type must be one of"),
        ("  lr: {type: float, low: 1.0e-4}", "needs low and high"),
        ("  n_rbf: {type: int, low: 1.5, high: 3}", "low must be an integer"),
        (
            "  attention_heads: {type: int, low: 1, high: 4, condition: {attention: true}}",
            "names 'attention', which is not a parameter listed before it",
        ),
        ("  lr: {type: float, low: 1.0e-4, high: 1.0e-2, scale: log}", "unknown key(s) scale"),
        (
            "  loss: {type: categorical, choices: [rmse, huber]}",
            "parameter 'loss': unknown loss 'huber'; choose rmse or mae",
        ),
        (
            "  optimizer: {type: categorical, choices: [adam, rmsprop]}",
            "parameter 'optimizer': unknown optimizer 'rmsprop'; choose one of Adam",
        ),
        ("  lr_schedule: step", "parameter 'lr_schedule': unknown lr_schedule 'step'"),
        ("  loss: {type: int, low: 1, high: 2}", "'loss' is categorical or fixed, not a range"),
    ],
)
def test_bad_spaces_give_their_message(params: str, message: str) -> None:
    with pytest.raises(SpaceError) as error:
        parse_space(f"model: schnet\nparams:\n{params}\n", origin="bad.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("bad.yaml: ")


def test_unknown_model_and_broken_yaml() -> None:
    with pytest.raises(SpaceError, match="unknown model 'painn'"):
        parse_space("model: painn\nparams:\n  lr: 1.0e-3\n")
    with pytest.raises(SpaceError, match="not valid YAML"):
        parse_space("model: schnet\nparams: {lr: [\n")
    with pytest.raises(SpaceError, match="no such space file"):
        load_space("nowhere.yaml")


def test_conditional_parameter_only_when_its_condition_holds() -> None:
    space = load_space("demo")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {True: 0, False: 0}
    for _ in range(30):
        trial = study.ask()
        values = suggest(trial, space)
        seen[values["attention"]] += 1
        assert ("attention_heads" in values) == values["attention"]
        study.tell(trial, 0.0)
    assert seen[True] and seen[False]


def test_sampled_values_go_to_model_or_training() -> None:
    space = load_space("demo")
    base = TrainConfig(data=("x.xyz",), model_config={"n_filters": 12}, max_epochs=3)
    config = to_train_config(
        space,
        {"n_atom_basis": 16, "cutoff": 4.5, "lr": 1e-3, "batch_size": 16},
        base,
        overrides={"max_epochs": 7},
    )
    assert config.model_config == {"n_filters": 12, "n_atom_basis": 16, "cutoff": 4.5}
    assert config.lr == 1e-3 and config.batch_size == 16
    assert config.max_epochs == 7  # command line wins


@pytest.mark.parametrize("sampler_name", ["tpe", "random", "cmaes", "qmc", "grid"])
def test_every_sampler_samples_valid_configs(sampler_name: str) -> None:
    import warnings

    from hpo.study.registries import build_sampler

    space = load_space("schnet_table1" if sampler_name == "grid" else "demo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=build_sampler(sampler_name, 0, space))
        base = TrainConfig(data=("x.xyz",))
        for step in range(4):
            trial = study.ask()
            config = to_train_config(space, suggest(trial, space), base)
            assert config.model == "schnet"
            study.tell(trial, float(step))
    assert len(study.trials) == 4


def test_aenet_space_is_the_aenet_study() -> None:
    space = load_space("aenet")
    assert space.models == ("aenet",)

    def distribution(name: str) -> Any:
        return space.parameter(name).distribution

    radial, angular = distribution("radial_order"), distribution("angular_order")
    sizes = [
        (nr + na + 2) * 2 for nr in (radial.low, radial.high) for na in (angular.low, angular.high)
    ]
    assert min(sizes) == 36 and max(sizes) == 68
    assert (distribution("radial_cutoff").low, distribution("radial_cutoff").high) == (6, 14)
    assert (distribution("angular_cutoff").low, distribution("angular_cutoff").high) == (4, 8)
    assert set(distribution("optimizer").choices) == {
        "Adam",
        "Adadelta",
        "Adagrad",
        "Adamax",
        "AdamW",
    }
    lr, wd = distribution("lr"), distribution("weight_decay")
    assert (lr.low, lr.high, lr.log) == (1e-6, 1e-2, True)
    assert (wd.low, wd.high, wd.log) == (1e-5, 1e-2, True)
    assert space.parameter("batch_size").value == 256


def test_family_parameters_need_their_condition() -> None:
    with pytest.raises(SpaceError, match="'radial_order' is not taken by model 'schnet'"):
        parse_space(
            "params:\n  model: {type: categorical, choices: [schnet, aenet]}\n"
            "  radial_order: {type: int, low: 4, high: 8}\n"
        )


def test_parameters_are_optunas_distributions() -> None:
    """What a trial records for each parameter is the distribution the space file declares."""
    space = load_space("schnet_table1")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    suggest(trial, space)
    for name, distribution in trial.distributions.items():
        assert distribution == space.parameter(name).distribution
    assert space.parameter("lr").distribution == optuna.distributions.CategoricalDistribution(
        [1e-4, 5e-5, 1e-5, 5e-6]
    )


def test_a_folder_named_like_a_shipped_space_does_not_hide_it(tmp_path, monkeypatch) -> None:
    from search_spaces.space import load_space, shipped_spaces

    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()  # `pesweep demo --workdir demo` makes one
    assert load_space("demo").source_text == shipped_spaces()["demo"].read_text()
