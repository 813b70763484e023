"""One table of sweep defaults, read by the library, the schedule spec and the command line alike."""

from __future__ import annotations

import dataclasses

import pytest

from hpo.cli.main import build_parser
from hpo.schedule.spec import load_spec
from hpo.study.defaults import SWEEP_DEFAULTS
from hpo.sweep.options import SweepOptions
from hpo.sweep.runner import _requested_setup, _requested_space
from hpo.tracking.stores import Store


def _subparser(name: str):
    actions = [a for a in build_parser()._actions if isinstance(getattr(a, "choices", None), dict)]
    return actions[0].choices[name]


def test_a_new_study_from_the_library_and_from_a_spec_gets_the_same_defaults(
    tmp_path, small_emt_file, tiny_space
) -> None:
    options = SweepOptions(study_name="s", space=str(tiny_space), data=(str(small_emt_file),))
    space = _requested_space(options)
    setup = _requested_setup(options, space, Store("sqlite:///mlflow.db"), has_forces=False)
    assert setup is not None
    spec_file = tmp_path / "sweep.yaml"
    spec_file.write_text(
        f"study: s\nstorage: sqlite:///optuna.db\nspace: {tiny_space}\ndata: {small_emt_file}\n"
    )
    spec = load_spec(spec_file)
    for field in dataclasses.fields(SWEEP_DEFAULTS):
        default = getattr(SWEEP_DEFAULTS, field.name)
        if hasattr(setup, field.name):
            assert getattr(setup, field.name) == default, field.name
        # the spec's runs_dir is absolute; its sampler and pruner are left to the sweep, by
        # the data's kind
        if hasattr(spec, field.name) and field.name not in ("runs_dir", "sampler", "pruner"):
            assert getattr(spec, field.name) == default, field.name
    assert spec.sampler == spec.pruner == ""
    assert spec.runs_dir == str(tmp_path / SWEEP_DEFAULTS.runs_dir)
    assert options.runs_dir == SWEEP_DEFAULTS.runs_dir
    assert options.max_retries == SWEEP_DEFAULTS.max_retries
    with pytest.raises(dataclasses.FrozenInstanceError):  # one value: replace() makes a copy
        options.max_epochs = 5  # type: ignore[misc]


def test_a_spec_without_sampler_or_pruner_leaves_both_to_the_data_s_kind(
    tmp_path, tiny_space, small_emt_file
) -> None:
    from hpo.schedule.runner import sweep_options as spec_sweep_options

    spec_file = tmp_path / "sweep.yaml"
    spec_file.write_text(
        f"study: s\nstorage: sqlite:///optuna.db\nspace: {tiny_space}\ndata: {small_emt_file}\n"
    )
    options = spec_sweep_options(load_spec(spec_file), n_trials=1, timeout=None)
    assert (options.sampler, options.pruner) == (None, None)  # the sweep picks by the data
    spec_file.write_text(spec_file.read_text() + "sampler: tpe\npruner: hyperband\n")
    options = spec_sweep_options(load_spec(spec_file), n_trials=1, timeout=None)
    assert (options.sampler, options.pruner) == ("tpe", "hyperband")


def test_sweep_help_names_the_table_s_defaults() -> None:
    text = " ".join(_subparser("sweep").format_help().split())
    for phrase in (
        f"sampler (default {SWEEP_DEFAULTS.sampler} for data with energies only, "
        f"{SWEEP_DEFAULTS.sampler_with_forces} for data with forces: ",
        f"pruner (default {SWEEP_DEFAULTS.pruner} for data with energies only, "
        f"{SWEEP_DEFAULTS.pruner_with_forces} for data with forces: the search suite's winners",
        f"epochs per trial (default {SWEEP_DEFAULTS.max_epochs})",
        f"(default {SWEEP_DEFAULTS.seed})",
        f"(default {','.join(SWEEP_DEFAULTS.objectives)};",
        f"(default: {SWEEP_DEFAULTS.runs_dir})",
    ):
        assert phrase in text, phrase


def test_a_new_study_s_default_sampler_and_pruner_follow_the_data_s_kind(
    sweep_options, tmp_path, small_emt_file
) -> None:
    """The search suite's winners: TPE + median on energies alone, TPE with 20 start-up
    trials + successive halving with forces; the study records what it got, and an explicit
    --sampler or --pruner wins."""
    import ase.io

    from hpo.study.setup import peek_setup
    from hpo.sweep.runner import run_sweep
    from hpo.tracking.stores import optuna_storage

    with_forces = run_sweep(
        sweep_options(study_name="forces", n_trials=1, sampler=None, pruner=None)
    )
    assert with_forces.setup.sampler == SWEEP_DEFAULTS.sampler_with_forces == "tpe-startup-20"
    assert with_forces.setup.pruner == SWEEP_DEFAULTS.pruner_with_forces == "successive-halving"
    frames = ase.io.read(small_emt_file, ":")
    for atoms in frames:  # the same structures and energies, no forces
        energy = atoms.get_potential_energy()
        atoms.calc = None
        atoms.info["energy"] = energy
    energies_only = tmp_path / "energies.extxyz"
    ase.io.write(energies_only, frames, format="extxyz")
    options = sweep_options(
        study_name="energies", n_trials=1, sampler=None, pruner=None, data=(str(energies_only),)
    )
    energies = run_sweep(options).setup
    assert (energies.sampler, energies.pruner) == (SWEEP_DEFAULTS.sampler, SWEEP_DEFAULTS.pruner)
    assert (energies.sampler, energies.pruner) == ("tpe", "median")
    chosen = sweep_options(study_name="chosen", n_trials=1, sampler="random", pruner="hyperband")
    chosen_setup = run_sweep(chosen).setup
    assert (chosen_setup.sampler, chosen_setup.pruner) == ("random", "hyperband")
    stored = peek_setup("forces", optuna_storage(sweep_options().storage))
    assert stored is not None
    assert (stored.sampler, stored.pruner) == ("tpe-startup-20", "successive-halving")
