"""Mistakes a new user makes end in one line naming the fix, before anything is made (#38)."""

from __future__ import annotations

import pytest

from lightning_modules.md.spec import load_md_spec
from lightning_modules.training.config import load_config


def test_numbers_in_yaml_are_numbers_as_yaml_1_2_reads_them(tmp_path, pesweep_in_process) -> None:
    config = tmp_path / "t.yaml"
    config.write_text("data: [x.xyz]\nlr: 1e-3\nmax_epochs: 2E1\nweight_decay: 5e-6\n")
    loaded = load_config(config)
    assert (loaded.lr, loaded.max_epochs, loaded.weight_decay) == (0.001, 20, 5e-6)
    assert isinstance(loaded.max_epochs, int)
    done = pesweep_in_process("train", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2  # the config is read; the data file is what is missing
    assert done.stderr.strip().splitlines()[-1].startswith("pesweep: error: x.xyz: no such file")
    config.write_text("data: [x.xyz]\nlr: fast\n")
    done = pesweep_in_process("train", "--config", str(config), cwd=tmp_path)
    assert done.stderr.strip().splitlines()[-1] == (
        "pesweep: error: lr must be a number, got 'fast'; write e.g. lr: 0.001"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.yaml"]  # no store made


def test_numbers_in_an_md_spec_are_numbers(tmp_path) -> None:
    structure = tmp_path / "start.xyz"
    structure.write_text("1\n\nH 0 0 0\n")
    spec = tmp_path / "md.yaml"
    spec.write_text(f"structure: {structure.name}\ntimestep: 5e-1\ntime_ps: 1e1\n")
    loaded = load_md_spec(spec)
    assert (loaded.timestep, loaded.time_ps) == (0.5, 10.0)


def test_devices_on_a_machine_without_that_gpu_is_refused_up_front(
    tmp_path, tiny_space, small_emt_file, pesweep_in_process
) -> None:
    from hpo.sweep.workers import gpu_count

    count = gpu_count()
    done = pesweep_in_process(
        "sweep",
        "--study",
        "s",
        "--space",
        str(tiny_space),
        "--data",
        str(small_emt_file),
        "--devices",
        str(count),  # one past the last GPU: 0 on a machine without any
        "--n-trials",
        "1",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"pesweep: error: --devices {count}: this machine has ")
    assert "drop --devices to train on the CPU" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # no study, no store


def test_too_few_structures_and_an_unreadable_file_are_one_line(
    tmp_path, pesweep_in_process
) -> None:
    one = tmp_path / "one.xyz"
    one.write_text("1\nProperties=species:S:1:pos:R:3 energy=1.0\nH 0 0 0\n")
    (tmp_path / "folder" / "x.xsf").mkdir(parents=True)  # a folder named like a data file
    for data, message in (
        ("one.xyz", "1 structure is too few for a (0.8, 0.1, 0.1) split"),
        ("folder", "x.xsf: cannot be read (Is a directory)"),
    ):
        done = pesweep_in_process("train", "--data", data, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "pesweep_runs").exists()


def test_a_closed_pipe_ends_the_output_quietly(tmp_path) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "hpo.cli", "spaces", "show", "demo"]
    reader = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # as `| head` does once it has its lines
    stderr = reader.stderr.read().decode()
    assert reader.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_a_junk_or_planted_checkpoint_is_refused_in_one_line(tmp_path, pesweep_in_process) -> None:
    import io

    import torch

    from tests.support.checkpoints import Planted

    marker = tmp_path / "code-ran"
    planted = io.BytesIO()
    torch.save({"state_dict": Planted(marker)}, planted)
    (tmp_path / "planted.ckpt").write_bytes(planted.getvalue())
    (tmp_path / "junk.ckpt").write_text("junk")
    (tmp_path / "h2.xyz").write_text("2\n\nH 0 0 0\nH 0 0 0.74\n")
    for name, reason in (
        ("planted.ckpt", "holds objects a weights-only load refuses"),
        ("junk.ckpt", "is not a readable checkpoint"),
    ):
        for argv in (
            ("md-check", "--model", name, "--structure", "h2.xyz"),
            ("export-aenet", name, "--out", "nn"),
        ):
            done = pesweep_in_process(*argv, cwd=tmp_path)
            assert done.returncode == 2, done.stderr
            assert done.stderr.strip().splitlines()[-1].startswith(f"pesweep: error: {name}")
            assert reason in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists() and not (tmp_path / "nn").exists()


def test_places_that_cannot_be_written_are_one_line_before_anything_is_made(
    tmp_path, tiny_space, small_emt_file, pesweep_in_process
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    sweep = ["sweep", "--study", "s", "--space", str(tiny_space), "--data", str(small_emt_file)]
    for argv, message in (
        ([*sweep, "--runs-dir", "a-file/runs"], "--runs-dir a-file/runs lies under the file"),
        (
            [*sweep, "--runs-dir", "/proc/pesweep"],
            "--runs-dir /proc/pesweep: cannot write in /proc",
        ),
        (
            [*sweep, "--storage", "sqlite:////proc/pesweep/o.db"],
            "the study storage sqlite:////proc/pesweep/o.db: its folder /proc/pesweep: cannot write",
        ),
        (
            ["train", "--data", str(small_emt_file), "--output-dir", "/proc/pesweep"],
            "--output-dir /proc/pesweep: cannot write in /proc",
        ),
        (  # the default store in a working folder nothing can be written to, as /proc
            ["train", "--data", str(small_emt_file), "--tracking-uri", "sqlite:////proc/m.db"],
            "the MLflow store sqlite:////proc/m.db: its folder /proc: cannot write in /proc",
        ),
        (
            ["chain", "--data", str(small_emt_file), str(small_emt_file), "--runs-dir", "a-file"],
            "output folder a-file is a file; choose another --runs-dir",
        ),
    ):
        done = pesweep_in_process(*argv, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "tiny.yaml"]


def test_a_database_that_takes_the_connection_but_never_answers_is_given_up_on(
    tmp_path, tiny_space, small_emt_file, pesweep_in_process
) -> None:
    import socket
    import time

    pytest.importorskip("psycopg", reason="the PostgreSQL driver: pip install 'pesweep[postgres]'")
    with socket.socket() as silent:  # the kernel accepts connections into the backlog; no reply
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        start = time.monotonic()
        done = pesweep_in_process(
            "sweep",
            "--study",
            "s",
            "--space",
            str(tiny_space),
            "--data",
            str(small_emt_file),
            "--storage",
            f"postgresql://alice:pw@127.0.0.1:{port}/studies",
            cwd=tmp_path,
        )
        waited = time.monotonic() - start
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert "no answer within the 5 s connect timeout" in line and "alice:***@" in line
    assert waited < 40  # libpq's default is to wait for the kernel (two minutes and more)


def test_a_sweep_its_first_trial_would_refuse_is_refused_before_the_study_exists(
    tmp_path, tiny_space, small_emt_file, pesweep_in_process
) -> None:
    sweep = ["sweep", "--study", "s", "--space", str(tiny_space), "--data", str(small_emt_file)]
    (tmp_path / "junk.ckpt").write_text("junk")
    lr_only = "model: schnet\nparams:\n  lr: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}\n"
    (tmp_path / "lr-only.yaml").write_text(lr_only)
    for argv, message in (
        (  # the tiny space samples n_atom_basis: a fine-tuning sweep keeps the model's
            [*sweep, "--init-from", "pretrained.ckpt"],
            "with --init-from the architecture is the pretrained model's; the space may not "
            "sample n_atom_basis, n_interactions, n_rbf, cutoff (sample lr, strategy, "
            "max_epochs, core_repulsion, ...)",
        ),
        ([*sweep, "--sampler", "grid"], "lr"),  # a float range without a step has no grid
        (  # a file that is no checkpoint, under a space that samples the lr only
            ["sweep", "--study", "s", "--space", "lr-only.yaml", "--data", str(small_emt_file)]
            + ["--init-from", "junk.ckpt"],
            "--init-from junk.ckpt: junk.ckpt is not a pesweep checkpoint",
        ),
    ):
        done = pesweep_in_process(*argv, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr.strip().splitlines()[-1]
        made = sorted(p.name for p in tmp_path.iterdir())
        assert made == ["junk.ckpt", "lr-only.yaml", "tiny.yaml"]  # no study, no run


def test_a_misspelt_space_is_told_before_the_data_are_read(
    tmp_path, small_emt_file, pesweep_in_process
) -> None:
    # the data may take minutes to read; the space's name is checked first
    for data in (str(small_emt_file), "missing.xyz"):
        done = pesweep_in_process(
            "sweep", "--study", "s", "--space", "tabel1", "--data", data, cwd=tmp_path
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, lines  # the error alone: no notes on data that are not used
        assert lines[0].startswith("pesweep: error: tabel1: no such space file nor shipped space")
    assert list(tmp_path.iterdir()) == []


def test_no_command_writes_over_an_input_a_store_or_a_file_it_did_not_make(
    tmp_path, small_emt_file, pesweep_in_process
) -> None:
    import os
    import shutil

    data = tmp_path / "data.xyz"
    shutil.copy(small_emt_file, data)
    os.link(data, tmp_path / "hard-link.xyz")
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.json").write_text("mine")
    import sqlite3

    sqlite3.connect(tmp_path / "mlflow.db").execute("create table t (x)").connection.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    audit = ["audit", "data.xyz", "--json"]
    for argv, message in (
        ([*audit, "hard-link.xyz", "--force"], "is an input of this command"),
        ([*audit, "sub/../data.xyz", "--force"], "is an input of this command"),
        ([*audit, "mlflow.db", "--force"], "is a database"),
        ([*audit, "notes.json"], "notes.json exists; choose another --out, or pass --force"),
        (
            ["subset", "--data", "data.xyz", "--random", "5", "--out", "x.npz"],
            "subset writes extended XYZ; name the file .xyz or .extxyz",
        ),
    ):
        done = pesweep_in_process(*argv, cwd=tmp_path)
        assert done.returncode == 2, (argv, done.stderr)
        assert message in done.stderr.strip().splitlines()[-1], done.stderr
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


def test_a_fine_tuning_never_replaces_the_checkpoint_it_starts_from(
    tmp_path, small_emt_file, pesweep_in_process
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.ckpt").write_bytes(b"the model to start from")
    done = pesweep_in_process(
        "finetune",
        "--from",
        str(run / "best.ckpt"),
        "--data",
        str(small_emt_file),
        "--output-dir",
        str(run),
        "--overwrite",
        "--no-tracking",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "lies in --output-dir" in done.stderr.strip().splitlines()[-1]
    assert (run / "best.ckpt").read_bytes() == b"the model to start from"


def test_data_files_of_one_set_in_two_units_are_refused_naming_the_file(
    tmp_path, pesweep_in_process
) -> None:
    import numpy as np

    from tests.support.data import shared_file

    seb = np.load(shared_file("seb_clusters/SeBn/B=20.npz"))
    first, second = tmp_path / "hartree.npz", tmp_path / "ev.npz"
    np.savez(first, R=seb["R"][:30], E=seb["E"][:30], z=seb["z"])
    np.savez(second, R=seb["R"][30:60], E=seb["E"][30:60] * 27.211386, z=seb["z"])
    done = pesweep_in_process(
        "audit", str(first), str(second), "--energy-unit", "hartree", cwd=tmp_path
    )
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"pesweep: error: {second}: its energies are 27x larger than those of")
    same = tmp_path / "also-hartree.npz"
    np.savez(same, R=seb["R"][60:90], E=seb["E"][60:90], z=seb["z"])
    done = pesweep_in_process(
        "audit", str(first), str(same), "--energy-unit", "hartree", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr


def console_stderr(code: str) -> str:
    """What a fresh Python process prints on stderr after the CLI's console set-up and ``code``."""
    import subprocess
    import sys

    setup = "import warnings; from hpo.runtime.console import configure_logging; configure_logging(False)\n"
    done = subprocess.run(
        [sys.executable, "-c", setup + code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stderr


def test_warnings_print_as_pesweep_lines_even_after_lightning_is_imported() -> None:
    stderr = console_stderr(
        "import lightning.pytorch; from lightning_modules.data import DataWarning; "
        "import lightning_modules.training.run as run; "
        "warnings.warn_explicit('the compositions differ', DataWarning, run.__file__, 259)"
    )
    assert stderr == "pesweep: warning: the compositions differ\n"


def test_a_warning_repeated_by_every_training_of_a_sweep_is_printed_once() -> None:
    # each training changes the warning filters (which clears Python's once-per-place
    # record) and warns again about the same data, as a sweep's trials do
    stderr = console_stderr(
        "from lightning_modules.data import DataWarning\n"
        "for trial in range(3):\n"
        "    with warnings.catch_warnings():\n"
        "        warnings.simplefilter('ignore', DeprecationWarning)\n"
        "    warnings.warn('the compositions cannot determine B', DataWarning)\n"
        "warnings.warn('another note', DataWarning)"
    )
    assert stderr.splitlines() == [
        "pesweep: warning: the compositions cannot determine B",
        "pesweep: warning: another note",
    ]


def test_a_cutoff_far_beyond_the_cell_is_refused_before_pairs_are_built(
    tmp_path, pesweep_in_process
) -> None:
    import ase.io
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for seed in range(12):
        atoms = bulk("Cu", "fcc", a=3.6)
        atoms.rattle(0.05, seed=seed)
        atoms.calc = SinglePointCalculator(atoms, energy=-0.01 * seed, forces=[[0.0, 0.0, 0.0]])
        frames.append(atoms)
    ase.io.write(tmp_path / "cu.xyz", frames)
    (tmp_path / "big.yaml").write_text("data: [cu.xyz]\nmodel_config: {cutoff: 500.0}\n")
    done = pesweep_in_process("train", "--config", "big.yaml", "--output-dir", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert "a cutoff of 500 A gives about 2.7e+08 neighbour pairs (10 GiB)" in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()


def test_a_training_from_a_file_that_is_no_checkpoint_leaves_no_store(
    tmp_path, small_emt_file, pesweep_in_process
) -> None:
    (tmp_path / "junk.ckpt").write_text("junk")
    (tmp_path / "t.yaml").write_text(f"data: [{small_emt_file}]\ninit_from: junk.ckpt\n")
    done = pesweep_in_process("train", "--config", "t.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "init_from: junk.ckpt is not a pesweep checkpoint" in done.stderr.strip().splitlines()[-1]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.ckpt", "t.yaml"]


def test_an_output_folder_that_holds_an_input_is_refused_even_with_overwrite(
    tmp_path, small_emt_file, pesweep_in_process
) -> None:
    import shutil

    out = tmp_path / "out"
    out.mkdir()
    data = out / "config.yaml.xyz"
    shutil.copy(small_emt_file, data)
    before = data.read_bytes()
    done = pesweep_in_process(
        "train", "--data", str(data), "--output-dir", str(out), "--overwrite", cwd=tmp_path
    )
    assert done.returncode == 2
    assert f"--output-dir {out} holds the input {data}" in done.stderr.strip().splitlines()[-1]
    assert data.read_bytes() == before and sorted(p.name for p in out.iterdir()) == [data.name]


def test_keep_flagged_in_test_without_drop_flagged_is_refused_up_front(
    tmp_path, tiny_space, small_emt_file, pesweep_in_process
) -> None:
    for command in (
        ["sweep", "--study", "s", "--space", str(tiny_space), "--n-trials", "1"],
        ["train"],
    ):
        done = pesweep_in_process(
            *command, "--data", str(small_emt_file), "--keep-flagged-in-test", cwd=tmp_path
        )
        assert done.returncode == 2, done.stderr
        line = done.stderr.strip().splitlines()[-1]
        assert line.startswith("pesweep: error: keep_flagged_in_test (--keep-flagged-in-test)")
        assert line.endswith("set drop_flagged: true (--drop-flagged) as well")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # no study, no store


def test_a_loss_weight_outside_zero_to_one_is_refused_up_front(
    tmp_path, tiny_space, small_emt_file, pesweep_in_process
) -> None:
    done = pesweep_in_process(
        "sweep",
        "--study",
        "s",
        "--space",
        str(tiny_space),
        "--n-trials",
        "1",
        "--data",
        str(small_emt_file),
        "--loss-alpha",
        "1.5",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line == (
        "pesweep: error: ranking_alpha (--loss-alpha: the force weight that ranks runs) must be "
        "in [0, 1], "
        "got 1.5"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # no study, no store
