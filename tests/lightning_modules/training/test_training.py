"""Training lowers the error; checkpoints rebuild the same model; splits are reproducible."""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest
import torch
import yaml

from lightning_modules import keys
from lightning_modules.data.splits import load_split
from lightning_modules.training.config import ConfigError, make_config
from lightning_modules.training.datamodule import PotentialDataModule
from lightning_modules.training.prepared import DataSettings
from lightning_modules.training.run import train
from lightning_modules.training.task import load_task

SMALL = dict(n_atom_basis=32, n_interactions=2, n_rbf=10, cutoff=5.0)


@pytest.fixture(scope="module")
def emt_run(emt_file, tmp_path_factory):
    config = make_config(
        dict(
            data=[str(emt_file)],
            model_config=dict(SMALL, attention=True, activation="smu"),
            alpha=0.5,
            lr=3e-3,
            batch_size=16,
            max_epochs=12,
            seed=1,
            progress_bar=False,
            output_dir=str(tmp_path_factory.mktemp("run")),
        )
    )
    return config, train(config)


def test_training_lowers_validation_error(emt_run) -> None:
    _, result = emt_run
    first = result.history[0]
    assert result.epochs == 12
    assert result.best_val < 0.7 * first["val_energy_mae_eV"]
    best_force = min(epoch["val_force_mae_eV_per_A"] for epoch in result.history)
    assert best_force < 0.5 * first["val_force_mae_eV_per_A"]
    for name in (
        "test_energy_mae_eV",
        "test_energy_rmse_meV_per_atom",
        "test_force_rmse_eV_per_A",
        "test_energy_mae_eV_clean",
    ):
        assert np.isfinite(result.test_metrics[name])


def test_checkpoint_round_trip_gives_identical_predictions(emt_run) -> None:
    config, result = emt_run
    task = load_task(result.checkpoint_path)
    again = load_task(result.checkpoint_path)
    module = PotentialDataModule(
        config.data[0], cutoff=config.cutoff, settings=DataSettings(seed=config.seed), batch_size=64
    )
    module.setup()
    batch = next(iter(module.test_dataloader()))
    first = task(batch, compute_forces=True)
    second = again(batch, compute_forces=True)
    assert torch.equal(first[keys.ENERGY], second[keys.ENERGY])
    # the backward pass of the attention scatter sums in a thread-dependent order on CPU,
    # so forces agree to float32 rounding (the same model twice differs as much)
    torch.testing.assert_close(first[keys.FORCES], second[keys.FORCES], rtol=1e-5, atol=1e-6)
    # the references and split travel inside the checkpoint
    assert task.model.energy_reference().element_energy.keys() == {29, 79}
    saved = load_split(f"{result.output_dir}/split.npz")
    assert task.metadata["split"]["test"] == saved["test"].tolist()
    np.testing.assert_array_equal(saved["test"], module.split["test"])


def test_test_metrics_match_a_recomputation(emt_run) -> None:
    config, result = emt_run
    task = load_task(result.checkpoint_path)
    module = PotentialDataModule(
        config.data[0], cutoff=config.cutoff, settings=DataSettings(seed=config.seed)
    )
    module.setup()
    errors = []
    for batch in module.test_dataloader():
        errors.append((task(batch)[keys.ENERGY] - batch[keys.ENERGY]).detach())
    mae = torch.cat(errors).abs().mean().item()
    assert mae == pytest.approx(result.test_metrics["test_energy_mae_eV"], rel=1e-5)


def test_predict_step_gives_the_test_split_and_its_errors(emt_run, emt_data) -> None:
    """Evaluation runs the task's predict_step through Trainer.predict on the recorded split."""
    from lightning_modules.training.evaluation import predict_energies, split_loader

    _, result = emt_run
    task = load_task(result.checkpoint_path)
    test = np.asarray(result.split["test"])
    reference, predicted, sizes = predict_energies(task, split_loader(task, emt_data))
    np.testing.assert_allclose(reference, emt_data.energy[test], rtol=1e-6)
    np.testing.assert_array_equal(sizes, emt_data.n_atoms[test])
    mae = float(np.abs(predicted - reference).mean())
    assert mae == pytest.approx(result.test_metrics["test_energy_mae_eV"], rel=1e-5)


def test_hartree_data_trains_in_ev(seb20_small, tmp_path) -> None:
    config = make_config(
        dict(
            model_config=SMALL,
            max_epochs=2,
            batch_size=20,
            progress_bar=False,
            output_dir=str(tmp_path),
        )
    )
    from lightning_modules.training.run import build_datamodule

    module = build_datamodule(config, data=seb20_small)
    result = train(config, datamodule=module)
    task = load_task(result.checkpoint_path)
    batch = next(iter(module.test_dataloader()))
    predicted = task(batch)[keys.ENERGY]
    assert predicted.dtype == torch.float64
    assert abs(predicted.mean().item() - batch[keys.ENERGY].mean().item()) < 200.0  # eV
    assert batch[keys.ENERGY].mean().item() < -70000.0  # eV, not Hartree
    # the saved config names the data that were passed in, not a placeholder
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["data"] == list(seb20_small.sources) and saved["data"]
    assert task.metadata["config"]["data"] == saved["data"]


def test_keep_flagged_in_test_trains_clean_and_tests_on_all(seb20_small, tmp_path) -> None:
    from lightning_modules.training.run import build_datamodule

    metrics = {}
    for keep in (False, True):
        config = make_config(
            dict(
                model_config=SMALL,
                max_epochs=1,
                batch_size=20,
                progress_bar=False,
                output_dir=str(tmp_path / str(keep)),
                drop_flagged=True,
                keep_flagged_in_test=keep,
            )
        )
        module = build_datamodule(config, data=seb20_small)
        metrics[keep] = train(config, datamodule=module).test_metrics
        flagged = module.audit.flagged
        assert not flagged[module.split["train"]].any()
        assert flagged[module.split["test"]].any() == keep
    # dropped everywhere, the full test set is the clean one; kept in the test, it is not
    assert metrics[False]["test_energy_mae_eV"] == metrics[False]["test_energy_mae_eV_clean"]
    assert metrics[True]["test_energy_mae_eV"] > 1.5 * metrics[True]["test_energy_mae_eV_clean"]
    with pytest.raises(ConfigError, match=r"set drop_flagged: true \(--drop-flagged\) as well"):
        make_config(dict(model_config=SMALL, keep_flagged_in_test=True))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
@pytest.mark.parametrize("data_name", ["seb20_small", "emt_data"])
def test_the_loss_is_the_rmse_or_the_mae_of_the_scaled_errors(data_name, request) -> None:
    """loss: mae minimises the mean absolute error (energies and forces), rmse the RMSE."""
    from lightning_modules.training.run import build_datamodule, build_task

    data = request.getfixturevalue(data_name)
    for loss in ("rmse", "mae"):
        config = make_config(dict(model_config=SMALL, alpha=0.3, loss=loss, progress_bar=False))
        module = build_datamodule(config, data=data)
        module.setup()
        task = build_task(config, module)
        assert task.hparams["loss"] == loss
        batch = next(iter(module.train_dataloader()))
        value = task.training_step(batch, 0).item()
        predicted = task(batch, compute_forces=data_name == "emt_data")
        scale = task.model.energy_scale
        energy = (predicted[keys.ENERGY] - batch[keys.ENERGY]) / batch[keys.N_ATOMS] / scale
        errors = [energy]
        if data_name == "emt_data":  # (1 - alpha) * energy term + alpha * force term
            errors.append((predicted[keys.FORCES] - batch[keys.FORCES]) / scale)
        expected = {}
        for norm in ("rmse", "mae"):
            terms = [e.abs().mean() if norm == "mae" else e.pow(2).mean().sqrt() for e in errors]
            combined = terms[0] if len(terms) == 1 else 0.7 * terms[0] + 0.3 * terms[1]
            expected[norm] = combined.item()
        other = "mae" if loss == "rmse" else "rmse"
        assert value == pytest.approx(expected[loss], rel=1e-4)
        assert value != pytest.approx(expected[other], rel=1e-2)


def test_force_fraction_limits_training_forces(emt_data) -> None:
    module = PotentialDataModule(
        emt_data, cutoff=4.0, settings=DataSettings(force_fraction=0.25, seed=0)
    )
    module.setup()
    use = module._collator.use_forces
    train_count = len(module.split["train"])
    assert use[module.split["train"]].sum() == round(0.25 * train_count)
    assert use[module.split["val"]].all() and use[module.split["test"]].all()


def test_bad_config_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown config key"):
        make_config(dict(data=["x.npz"], learning_rate=1e-3))
    with pytest.raises(ConfigError, match="takes no parameter"):
        make_config(dict(data=["x.npz"], model_config=dict(n_layers=3)))
    from lightning_modules.training.run import build_datamodule

    with pytest.raises(ConfigError, match="no data"):  # data are named or passed in
        build_datamodule(make_config(dict()))
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'; choose one of Adam"):
        make_config(dict(data=["x.npz"], optimizer="rmsprop"))
    with pytest.raises(ConfigError, match=r"alpha \(force weight\) must be in \[0, 1\]"):
        make_config(dict(data=["x.npz"], alpha=1.5))
    with pytest.raises(ConfigError, match="unknown loss 'huber'; choose rmse or mae"):
        make_config(dict(data=["x.npz"], loss="huber"))


def test_cosine_schedule_anneals_over_the_run(emt_file, tmp_path) -> None:
    epochs, lr = 4, 2e-3
    config = make_config(
        dict(
            data=[str(emt_file)],
            model_config=SMALL,
            lr=lr,
            lr_schedule="cosine",
            batch_size=16,
            max_epochs=epochs,
            seed=0,
            progress_bar=False,
            output_dir=str(tmp_path),
        )
    )
    result = train(config)
    used = [epoch["lr"] for epoch in result.history]
    expected = [lr * (1 + np.cos(np.pi * k / epochs)) / 2 for k in range(epochs)]
    np.testing.assert_allclose(used, expected, rtol=1e-6)
    assert load_task(result.checkpoint_path).hparams["lr_schedule"] == "cosine"
    with pytest.raises(ConfigError, match="unknown lr_schedule 'step'; choose plateau or cosine"):
        make_config(dict(data=[str(emt_file)], lr_schedule="step"))


def test_lightning_leaves_slurm_to_pesweep(emt_file, tmp_path, monkeypatch) -> None:
    """With srun on PATH: no srun warning; inside a Slurm job: no requeue handler of Lightning's."""
    import signal
    import stat
    import warnings

    from lightning.pytorch.callbacks import Callback

    fake = tmp_path / "bin" / "srun"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")

    class Handlers(Callback):
        def on_train_start(self, trainer, module) -> None:
            self.sigusr1 = signal.getsignal(signal.SIGUSR1)

    config = make_config(
        dict(
            data=[str(emt_file)], model_config=SMALL, max_epochs=1, progress_bar=False,
            output_dir=str(tmp_path / "outside"),
        )
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(config)  # outside a job step: Lightning would warn that srun is not used
    assert not [w for w in caught if "srun" in str(w.message)]
    monkeypatch.setenv("SLURM_NTASKS", "1")  # inside a job: Lightning would take it over
    monkeypatch.setenv("SLURM_JOB_NAME", "pesweep-worker")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    seen = Handlers()
    train(dataclasses.replace(config, output_dir=str(tmp_path / "inside")), callbacks=[seen])
    assert seen.sigusr1 in (signal.SIG_DFL, None)  # Slurm's --signal=USR1 stays pesweep's to handle


def test_a_run_resumed_from_last_ckpt_continues_as_if_uninterrupted(emt_file, tmp_path) -> None:
    """last.ckpt after every epoch; resuming from it gives the uninterrupted run's epochs."""
    from lightning.pytorch.callbacks import Callback

    class Start(Callback):
        def on_train_start(self, trainer, module) -> None:
            self.epoch = trainer.current_epoch
            self.steps = trainer.global_step

    config = make_config(
        dict(
            data=[str(emt_file)], model_config=SMALL, max_epochs=4, lr=2e-3, batch_size=16,
            progress_bar=False, output_dir=str(tmp_path / "whole"),
        )
    )  # fmt: skip
    whole = train(config, log_audit=False)
    cut = dataclasses.replace(config, output_dir=str(tmp_path / "cut"))
    train(dataclasses.replace(cut, max_epochs=2), log_audit=False)
    last = tmp_path / "cut" / "last.ckpt"
    assert last.exists() and (tmp_path / "cut" / "best.ckpt").exists()
    start = Start()
    resumed = train(cut, log_audit=False, resume_from=str(last), callbacks=[start])
    steps_per_epoch = math.ceil(0.8 * 120 / 16)
    assert (start.epoch, start.steps) == (2, 2 * steps_per_epoch)  # optimizer state restored
    assert [e["epoch"] for e in resumed.history] == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_allclose(
        [e["val_energy_mae_eV"] for e in resumed.history],
        [e["val_energy_mae_eV"] for e in whole.history],
        rtol=1e-4,
    )
    assert resumed.test_metrics["test_energy_mae_eV"] == pytest.approx(
        whole.test_metrics["test_energy_mae_eV"], rel=1e-4
    )


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_adam_and_adamw_run_fused_on_cpu(emt_run, name) -> None:
    """Adam's fused implementation updates all parameters in one kernel (4-5x less
    optimizer time per SchNet step here) and takes the same step as the default one."""
    _, result = emt_run
    task = load_task(result.checkpoint_path)
    task.hparams["optimizer"] = name
    optimizer = task.configure_optimizers()["optimizer"]
    assert bool(optimizer.defaults.get("fused")) is (name != "sgd")
    reference_task = load_task(result.checkpoint_path)
    reference = type(optimizer)(
        reference_task.parameters(),
        lr=task.hparams["lr"],
        weight_decay=task.hparams["weight_decay"],
    )
    for model, step in ((task, optimizer), (reference_task, reference)):
        for parameter in model.parameters():
            parameter.grad = torch.ones_like(parameter) * 1e-2
        step.step()
    for updated, expected in zip(task.parameters(), reference_task.parameters(), strict=True):
        torch.testing.assert_close(updated, expected)


def test_a_checkpoint_write_that_dies_midway_leaves_the_previous_file_whole(
    tmp_path, monkeypatch
) -> None:
    from lightning_modules.training.environment import AtomicCheckpointIO, trainer_plugins

    assert any(isinstance(plugin, AtomicCheckpointIO) for plugin in trainer_plugins())
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "state_dict": {"w": torch.ones(3)}}, path)
    before = path.read_bytes()

    def full_disk(obj, stream, *args, **kwargs):
        stream.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"epoch": 2, "state_dict": {}}, path)
    assert path.read_bytes() == before  # the epoch-1 checkpoint, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no partial file left
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["epoch"] == 1


def test_runs_trained_with_any_alpha_are_ranked_at_ranking_alpha(small_emt_file, tmp_path) -> None:
    """val_loss weighs forces by ranking_alpha (a study that samples alpha ranks at one weight);
    training still uses the run's own alpha."""
    import lightning.pytorch as pl

    from lightning_modules.training.run import build_datamodule, build_task

    def run(**weights) -> tuple[float, list[torch.Tensor]]:
        config = make_config(
            dict(
                data=[str(small_emt_file)],
                model_config=dict(SMALL, n_interactions=1),
                batch_size=20,
                max_epochs=1,
                progress_bar=False,
                output_dir=str(tmp_path),
                **weights,
            )
        )
        module = build_datamodule(config)
        module.setup()
        torch.manual_seed(0)
        task = build_task(config, module)
        trainer = dict(
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            inference_mode=False,
        )
        [metrics] = pl.Trainer(**trainer).validate(task, datamodule=module, verbose=False)
        pl.seed_everything(0, verbose=False)
        pl.Trainer(max_epochs=1, enable_checkpointing=False, **trainer).fit(task, module)
        return metrics["val_loss"], [p.detach().clone() for p in task.parameters()]

    ranked, ranked_weights = run(alpha=0.5, ranking_alpha=0.1)
    at_its_weight, _ = run(alpha=0.1)
    own, own_weights = run(alpha=0.5)
    assert ranked == pytest.approx(at_its_weight, rel=1e-6)
    assert own != pytest.approx(at_its_weight, rel=1e-3)
    for trained, reference in zip(ranked_weights, own_weights, strict=True):
        torch.testing.assert_close(trained, reference, rtol=0, atol=0)  # the same training
    with pytest.raises(ConfigError, match=r"ranking_alpha .* must be in \[0, 1\], got 1.5"):
        make_config(dict(ranking_alpha=1.5))
