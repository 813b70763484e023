"""Resumable cells: a finished cell is recorded, a rerun skips it, other settings are refused."""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.commands import BENCHMARKS

sys.path.insert(0, str(BENCHMARKS))
from cells import Cell, CellError, CellStore, run_cells  # noqa: E402


def counting_cells(calls: list[str], epochs: int = 3) -> list[Cell]:
    def work(name: str) -> dict:
        calls.append(name)
        return {"name": name, "curve": [1.0, 0.5]}

    return [
        Cell(f"row-{i}/seed-0", {"epochs": epochs, "split": (0.8, 0.2)}, work, (f"r{i}",))
        for i in range(3)
    ]


def test_a_rerun_skips_finished_cells_and_refuses_other_settings(tmp_path) -> None:
    store = CellStore(tmp_path / "cells")
    calls: list[str] = []
    cells = counting_cells(calls)
    store.save(cells[0], {"name": "stored", "curve": []}, 12.0)  # finished in an earlier session
    results = run_cells(store, cells)
    assert calls == ["r1", "r2"]  # the finished cell is not run again
    assert results["row-0/seed-0"]["name"] == "stored"
    record = json.loads((tmp_path / "cells" / "row-2" / "seed-0.json").read_text())
    assert record["result"] == {"name": "r2", "curve": [1.0, 0.5]}
    assert record["settings"] == {"epochs": 3, "split": [0.8, 0.2]} and record["seconds"] >= 0
    assert not list((tmp_path / "cells").rglob("*.tmp"))

    calls.clear()
    assert run_cells(store, counting_cells(calls)) == results and calls == []
    with pytest.raises(CellError, match=r"ran with other settings \(epochs=3 there, 100 now\)"):
        run_cells(store, counting_cells(calls, epochs=100))
    assert calls == []  # refused before any cell ran
    nested = [
        Cell(c.key, {**c.settings, "config": {"lr": 1.0}}, c.work, c.arguments) for c in cells
    ]
    store.save(nested[0], {}, 1.0)
    changed = Cell(nested[0].key, {**nested[0].settings, "config": {"lr": 2.0}}, dict, ([],))
    with pytest.raises(CellError, match=r"\(config\.lr=1\.0 there, 2\.0 now\)"):
        run_cells(store, [changed])


def test_cells_run_in_parallel_processes_and_keys_stay_files(tmp_path) -> None:
    store = CellStore(tmp_path)
    cells = [Cell(f"row {i}/+IIA (x)", {"i": i}, dict, ([("i", i)],)) for i in range(3)]
    assert run_cells(store, cells, jobs=2) == {c.key: {"i": i} for i, c in enumerate(cells)}
    assert sorted(p.name for p in (tmp_path / "row_0").iterdir()) == ["+IIA__x_.json"]
    with pytest.raises(CellError, match="names no file"):
        store.path("../..")
    with pytest.raises(CellError, match="--jobs must be at least 1"):
        run_cells(store, cells, jobs=0)
    (tmp_path / "row_1" / "+IIA__x_.json").write_text("{half")
    with pytest.raises(CellError, match="is no finished cell .* delete it to rerun"):
        run_cells(store, cells)


def test_a_finished_cell_whose_output_is_gone_runs_again(tmp_path) -> None:
    """A chain stage's checkpoint stays off the repository: on a new machine the stage reruns."""
    checkpoint = tmp_path / "stage-0.ckpt"
    calls: list[str] = []

    def work(name: str) -> dict:
        calls.append(name)
        checkpoint.write_text("weights")
        return {"name": name}

    stage = Cell("chain/stage-0", {"epochs": 3}, work, ("stage",), outputs=(str(checkpoint),))
    store = CellStore(tmp_path / "cells")
    run_cells(store, [stage])
    run_cells(store, [stage])
    assert calls == ["stage"]  # recorded, its checkpoint there: skipped
    checkpoint.unlink()
    assert run_cells(store, [stage]) == {"chain/stage-0": {"name": "stage"}}
    assert calls == ["stage", "stage"] and checkpoint.exists()


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)
def test_workers_end_with_a_stopped_run(tmp_path) -> None:
    """kill -TERM of a run with --jobs 2 leaves no worker training on (orphans, unrecorded)."""
    import os
    import signal
    import subprocess
    import time

    script = tmp_path / "run.py"
    script.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(BENCHMARKS)!r})\n"
        "from cells import Cell, CellStore, run_cells\n"
        "def work(folder):\n"
        "    open(os.path.join(folder, str(os.getpid())), 'w').close()\n"
        "    time.sleep(300)\n"
        "    return {}\n"
        "if __name__ == '__main__':\n"
        "    cells = [Cell(f'c{i}', {}, work, (sys.argv[1],)) for i in range(2)]\n"
        "    run_cells(CellStore(sys.argv[1]), cells, jobs=2)\n"
    )
    started = tmp_path / "started"
    started.mkdir()
    run = subprocess.Popen([sys.executable, str(script), str(started)])
    deadline = time.monotonic() + 120
    while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [int(path.name) for path in started.iterdir()]
    assert len(workers) == 2, "the workers did not start"
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=30)

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")

    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their run"
