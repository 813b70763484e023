"""The benchmarks run end to end (``--smoke``: tiny subsets, one epoch, one repeat)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from tests.support.commands import BENCHMARKS, run_benchmark
from tests.support.data import shared_file


def test_schnet_throughput_smoke_prints_every_row_for_both_sides(tmp_path) -> None:
    shared_file("seb_clusters/SeBn/B=20.npz")
    if importlib.util.find_spec("schnetpack") is None:
        pytest.skip("schnetpack is not installed: bash benchmarks/install_peers.sh")
    done = run_benchmark("schnet_throughput.py", "--smoke", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("load average ") and "smoke run" in lines[0]
    for label in (
        "wall s per epoch (train + val)",
        "test energy MAE, eV (full set)",
        "test energy MAE, eV (audit-clean)",
        "peak memory, MiB",
        "training step, structures/s",
        "inference, structures/s",
    ):
        row = next(line for line in lines if line.strip().startswith(label))
        ours, peer, ratio = row[len(row.split(label)[0]) + len(label) :].split()
        assert float(ours) > 0 and float(peer) > 0 and ratio.endswith("x"), row


def test_cuau_water_generator_makes_a_gfn1_xtb_slice_and_resumes(tmp_path) -> None:
    import json

    import ase.io
    import numpy as np

    if importlib.util.find_spec("tblite") is None:
        pytest.skip("tblite is not installed: pip install -e '.[xtb]'")
    done = run_benchmark("make_cuau_water.py", "--out", "data", "--smoke", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    frames = ase.io.read(tmp_path / "data" / "pretrain.extxyz", ":")
    assert len(frames) == 3 and [f.info["sampling"] for f in frames] == [
        "start",
        "md",
        "displacement",
    ]
    assert {f.get_chemical_formula() for f in frames} == {"HAu2Cu2O"}
    energies = [f.get_potential_energy() for f in frames]
    assert np.all(np.isfinite(energies)) and len(set(energies)) == 3  # three geometries
    assert all(np.abs(f.get_forces()).max() > 0 for f in frames)
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    system = manifest["systems"]["000 Cu2Au2+OH"]
    assert system["frames"] == 3 and system["fd_force_error_eV_per_A"] < 0.05
    # the fine-tuning set by the study's protocol: the cluster with waters, Bussi NVT at 400 K
    target = ase.io.read(tmp_path / "data" / "target.extxyz", ":")
    assert len(target) == 3 and {f.get_chemical_formula() for f in target} == {"H4Au6Cu7O2"}
    assert {f.info["temperature_K"] for f in target} == {400.0}
    assert target[0].get_potential_energy() != target[1].get_potential_energy()
    water = manifest["systems"]["target Cu7Au6+2H2O"]
    assert water["frames"] == 3 and water["fd_force_error_eV_per_A"] < 0.05
    start = ase.io.read(tmp_path / "data" / "cu7au6_6h2o.xyz")  # the MD check's start
    assert start.get_chemical_formula() == "H12Au6Cu7O6"
    part = tmp_path / "data" / "parts" / "broad-000.extxyz"
    before = part.stat().st_mtime_ns
    again = run_benchmark("make_cuau_water.py", "--out", "data", "--smoke", cwd=tmp_path)
    assert again.returncode == 0 and part.stat().st_mtime_ns == before  # resumed, not redone


def test_scaling_storage_part_makes_a_trials_calls_and_times_both_note_writers(tmp_path) -> None:
    """``scaling.py --parts 2`` on a few trials: each part is timed, the trials are complete."""
    import optuna

    from benchmarks.scaling import note_ms, storage_ms_per_trial

    url = f"sqlite:///{tmp_path / 'overhead.db'}"
    parts = storage_ms_per_trial(url, trials=3, epochs=4)
    assert set(parts) == {"optuna", "reports", "attributes"} and min(parts.values()) > 0
    [study] = optuna.get_all_study_summaries(url)
    trials = optuna.load_study(study_name=study.study_name, storage=url).trials
    assert [len(t.intermediate_values) for t in trials] == [4, 4, 4]  # none pruned
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    dashboard_ms, pesweep_ms = note_ms(f"sqlite:///{tmp_path / 'notes.db'}", trials=4, sample=2)
    assert dashboard_ms > 0 and pesweep_ms > 0


@pytest.mark.slow  # four small sweeps: 1-2 minutes on 2 cores
def test_hpo_efficiency_measures_the_estimation_pruner_against_random_search(tmp_path) -> None:
    data = shared_file("seb_clusters/SeBn/B=20.npz")
    done = run_benchmark(
        "hpo_efficiency.py",
        *("--data", str(data), "--seeds", "2", "--budget", "8", "--max-epochs", "2"),
        *("--structures", "60", "--workers", "2", "--pruner", "estimate"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "TPE with the estimate pruner against random search" in done.stdout


def test_hpo_suite_smoke_reports_every_problem_and_resumes_from_its_cells(tmp_path) -> None:
    shared_file("seb_clusters/SeBn/B=20.npz")
    shared_file("tio2_aenet/dir_xsf.tar.gz")
    arguments = (
        *("--smoke", "--problems", "seb20-table1,tio2-aenet,tio2-aenet-ranked,cuau-water"),
        *("--strategies", "random,tpe+estimate", "--jobs", "2"),  # the others: same path
        *("--cells-dir", str(tmp_path / "cells")),
    )
    done = run_benchmark("hpo_suite.py", *arguments, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for problem in ("seb20-table1", "tio2-aenet", "tio2-aenet-ranked"):
        assert f"## {problem}:" in done.stdout
        assert "goal for tpe+estimate" in done.stdout
    assert "## cuau-water: skipped: its data are absent" in done.stdout
    for banner in ("GPU available", "INFO mlflow"):  # the workers' library notes are quieted
        assert banner not in done.stderr
    assert (
        len(list((tmp_path / "cells").rglob("*.json"))) == 3 * 2 * 2
    )  # problems, strategies, seeds
    again = run_benchmark("hpo_suite.py", *arguments, cwd=tmp_path)
    assert again.returncode == 0 and "cells done, about" not in again.stdout + again.stderr
    assert again.stdout == done.stdout  # the same table from the recorded cells


def _hpo_suite_in_process(capsys, *arguments: str, refused: bool = False) -> str:
    """``hpo_suite.py``'s stdout for ``arguments`` run in this process, or with ``refused``
    its one-line refusal (exit 2, stderr)."""
    sys.path.insert(0, str(BENCHMARKS))
    import hpo_suite

    if not refused:
        capsys.readouterr()
        hpo_suite.main(list(arguments))
        return capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        hpo_suite.main(list(arguments))
    assert exit_.value.code == 2
    return capsys.readouterr().err


def test_hpo_suite_bad_options_are_refused_before_any_cell(tmp_path, capsys) -> None:
    cells = str(tmp_path / "cells")
    common = ("--smoke", "--problems", "seb20-table1", "--strategies", "random,null")
    refusals = {
        ("--budget-factor", "0"): "--budget-factor must be 1 or more",
        ("--first-seed", "-1"): "--first-seed must be 0 or more",
        ("--against", "tpe+median"): "--against 'tpe+median' is not one of",
        ("--strategies", "null"): "--strategies must include random",
        ("--problems", "seb21"): "unknown problem or strategy 'seb21'",
    }
    for option, message in refusals.items():
        error = _hpo_suite_in_process(capsys, *common, *option, "--cells-dir", cells, refused=True)
        assert message in error, option
    assert not (tmp_path / "cells").exists()


def test_hpo_suite_fresh_seeds_and_longer_budgets_sit_beside_the_published_cells(
    tmp_path, capsys
) -> None:
    shared_file("seb_clusters/SeBn/B=20.npz")
    cells = tmp_path / "cells"
    common = ("--smoke", "--problems", "seb20-table1", "--strategies", "random,null")
    longer_fresh = ("--budget-factor", "2", "--first-seed", "20")
    done = run_benchmark(
        "hpo_suite.py", *common, *longer_fresh, "--cells-dir", str(cells), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "budget 8 trial-epochs" in done.stdout  # the smoke's 4, twice
    records = sorted(cells.rglob("*.json"))
    assert [r.relative_to(cells).parts[:2] for r in records] == [("seb20-table1", "budget-8")] * 4
    assert sorted(r.stem for r in records) == ["seed-20"] * 2 + ["seed-21"] * 2
    for record in records:  # each sweep ran on to the longer budget
        assert json.loads(record.read_text())["result"]["curve"][-1][0] >= 8
    read = ("--cells-dir", str(cells), "--table-only")
    # the same cells read as the published budget's, or as seeds 0 and 1's: none is theirs
    for other in (("--first-seed", "20"), ("--budget-factor", "2")):
        assert "0 of 2 seeds finished" in _hpo_suite_in_process(capsys, *common, *other, *read)
    table = _hpo_suite_in_process(capsys, *common, *longer_fresh, *read)
    assert "seeds 2;" in table and table == done.stdout  # read back, not rerun


def test_hpo_suite_subsets_keep_the_energies_in_ev(tmp_path) -> None:
    import dataclasses

    import numpy as np

    sys.path.insert(0, str(BENCHMARKS))
    import hpo_suite

    from lightning_modules.data import load_data

    source = shared_file("seb_clusters/SeBn/B=20.npz")
    problem = dataclasses.replace(hpo_suite.PROBLEMS["seb20-table1"], structures=30)
    path, unit = hpo_suite.prepared_data(problem, tmp_path, None)
    subset, whole = load_data(path, unit), load_data(source, "hartree")
    assert unit == "ev" and len(subset) == 30
    assert np.isin(np.round(subset.energy, 6), np.round(whole.energy, 6)).all()


def test_cli_startup_times_every_command_and_another_checkout_against_this_one(tmp_path) -> None:
    refused = run_benchmark("cli_startup.py", "--before", str(tmp_path), cwd=tmp_path)
    assert refused.returncode == 2 and "not a pesweep checkout" in refused.stderr
    done = run_benchmark(
        "cli_startup.py", "--repeats", "1", "--before", str(BENCHMARKS.parent), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("pesweep --help", "optuna --help", "sweep --help, the --before checkout"):
        assert any(line.startswith(name) for line in done.stderr.splitlines()), name
    [paired] = [line for line in done.stderr.splitlines() if "median of paired rounds" in line]
    assert 0.2 < float(paired.rsplit(": ", 1)[1].split()[0]) < 5.0  # the same code both sides


def test_sweep_overhead_compares_two_checkouts_per_trial(tmp_path) -> None:
    # a path relative to where the script is called (the sweeps run in folders of their own)
    (tmp_path / "seb20.npz").symlink_to(shared_file("seb_clusters/SeBn/B=20.npz"))
    before = ("--before", str(BENCHMARKS.parent))  # this checkout against itself
    done = run_benchmark(
        "sweep_overhead.py",
        *before,
        "--data",
        "seb20.npz",
        "--trials",
        "2",
        "--repeats",
        "1",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for side in ("this checkout", "--before"):
        line = next(line for line in done.stderr.splitlines() if line.startswith(side + " "))
        seconds = float(line.split("s per trial ")[1].split()[0])
        assert 0 < seconds < 120, line
        peak = float(line.split("peak memory MiB ")[1].split()[0])
        assert 100 < peak < 20_000, line  # a resident set of Python, torch and the data
    assert "this checkout / --before, s per trial:" in done.stderr
    assert "this checkout / --before, peak memory:" in done.stderr


def test_hpo_suite_default_strategies_print_the_published_table_from_its_cells(tmp_path) -> None:
    """Strategies added later run when named: the published table's command still reads
    every seed from the committed cells."""
    shared_file("seb_clusters/SeBn/B=20.npz")
    cells = BENCHMARKS / "results" / "hpo-suite"
    done = run_benchmark(
        "hpo_suite.py",
        *("--problems", "seb20-table1", "--cells-dir", str(cells), "--table-only"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "seeds 20;" in done.stdout
    for strategy in ("tpe+median", "tpe+hyperband", "gp", "tpe+halving", "tpe+estimate", "null"):
        assert f"| {strategy} |" in done.stdout
