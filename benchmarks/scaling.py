"""Local workers, storage overhead and resumed trials: the numbers of the scheduled-sweep issue.

1. Trials per hour of ``pesweep sweep --workers 1`` and ``--workers 2`` on one
   study (a fixed small SchNet, only the learning rate sampled, so every trial
   costs the same; EMT Cu/Au clusters made here), each ``--repeats`` times,
   interleaved (1 2 1 2 ...): over the whole command (start-up included) and
   in the steady state (from the end of the first trial of every worker),
   and the seconds from the command's start to its first trial.
2. Optuna storage time per trial, SQLite and PostgreSQL (a server started on
   loopback when ``pg_ctl`` is installed): the calls a pesweep trial makes
   (ask, suggest, ``epochs`` reports each with the median pruner's check,
   its look for duplicates, user attributes, dashboard note and figure
   records, tell) without the training, over ``--storage-trials`` trials;
   and a dashboard note's cost in a study of 500 noted trials, written by
   optuna-dashboard's ``save_note`` and by pesweep.
3. A trial killed with ``kill -9`` at epoch ``--kill-at`` and retried by the
   next worker: the epochs the retry trains again, against restarting from
   epoch 0 (Optuna's ``RetryFailedTrialCallback``).

Medians with min-max. Goal: 2 workers give at least 1.8x the trials per hour
of one on 2 cores, storage overhead under 50 ms per trial, a killed trial
loses at most one epoch.

    python benchmarks/scaling.py [--trials 6] [--epochs 10] [--structures 400] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import optuna

from lightning_modules.data.emt_data import write_emt_clusters

SPACE = """
name: scaling
model: schnet
params:
  n_atom_basis: 16
  n_interactions: 2
  n_rbf: 16
  cutoff: 4.5
  lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}
  batch_size: 20
"""


def spread(values: list[float], digits: int = 3) -> str:
    return (
        f"{statistics.median(values):.{digits}g} (min {min(values):.{digits}g}, "
        f"max {max(values):.{digits}g}, n={len(values)})"
    )


def sweep_command(folder: Path, study: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hpo.cli",
        "sweep",
        "--study",
        study,
        "--space",
        str(folder / "space.yaml"),
        "--data",
        str(folder / "clusters.xyz"),
        "--storage",
        f"sqlite:///{folder / study}.db",
        "--tracking-uri",
        f"sqlite:///{folder / study}-mlflow.db",
        "--runs-dir",
        str(folder / "runs"),
        "--sampler",
        "random",
        "--pruner",
        "none",
        "--no-progress-bar",
        *extra,
    ]


def trials_per_hour(
    folder: Path, workers: int, trials: int, epochs: int, run: int
) -> tuple[float, float, float]:
    """(whole command, steady state) trials per hour of one sweep, and its start-up in seconds.

    The steady state counts the trials that ended after the first ``workers``
    ones, over the time since the ``workers``-th ended: start-up (imports, data
    preparation in every worker) is left out, as it is in a sweep of hours.
    The start-up is the time from the command's start to its first trial's.
    """
    study = f"w{workers}-{run}"
    started = datetime.datetime.now()  # Optuna records trial times as naive local times
    start = time.perf_counter()
    subprocess.run(
        sweep_command(
            folder,
            study,
            "--workers",
            str(workers),
            "--n-trials",
            str(trials),
            "--max-epochs",
            str(epochs),
        ),
        check=True,
        capture_output=True,
        cwd=folder,
    )
    whole = trials / (time.perf_counter() - start) * 3600
    done = optuna.load_study(study_name=study, storage=f"sqlite:///{folder / study}.db").trials
    ends = sorted(t.datetime_complete for t in done)
    startup = (min(t.datetime_start for t in done) - started).total_seconds()
    steady = (len(ends) - workers) / (ends[-1] - ends[workers - 1]).total_seconds() * 3600
    return whole, steady, startup


def storage_ms_per_trial(
    url: str, trials: int, epochs: int, plain: bool = False
) -> dict[str, float]:
    """Milliseconds of Optuna storage calls per trial, as a pesweep trial makes them, by part.

    ``optuna``: ask, one suggest and tell, which every Optuna trial makes;
    ``reports``: one intermediate value per epoch (what the pruner and the
    learning curve need) and the default pruner's check after it (the median
    pruner reads the study's trials); ``attributes``: what pesweep adds (the
    look for a finished trial with the same parameters, its user attributes,
    the dashboard note and the records of the two figures).
    ``plain``: the storage as Optuna opens a URL itself (SQLite's default
    journal), instead of pesweep's ``connect_storage`` (write-ahead log on a
    local disk).
    """
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    from hpo.study.registries import build_pruner
    from hpo.study.setup import connect_storage
    from hpo.study.trial_note import save_new_trial_note
    from hpo.study.trial_record import RESULT_ATTR, RESULT_KEYS

    folder = Path(tempfile.mkdtemp(prefix="pesweep-artifacts-"))
    store = FileSystemArtifactStore(str(folder))
    figures = [folder / "parity.svg", folder / "learning_curve.svg"]
    for figure in figures:
        figure.write_text("<svg/>")

    study = optuna.create_study(
        study_name=f"overhead-{time.time_ns()}",
        storage=url if plain else connect_storage(url),
        sampler=optuna.samplers.RandomSampler(seed=0),  # storage time, not the sampler's
        pruner=build_pruner("median", epochs),  # a sweep's default
    )
    parts = {"optuna": 0.0, "reports": 0.0, "attributes": 0.0}
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask()
        trial.suggest_float("lr", 1e-3, 1e-2, log=True)
        asked = time.perf_counter()
        study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))  # duplicates?
        for name in ("output_dir", "mlflow_run_id"):
            trial.set_user_attr(name, "x" * 40)
        attributes = time.perf_counter() - asked
        reports_start = time.perf_counter()
        for epoch in range(epochs):
            trial.report(1.0 / (epoch + 1), epoch)
            trial.should_prune()  # never true here: every trial reports the same curve
        reports = time.perf_counter() - reports_start
        attributes_start = time.perf_counter()
        for name in figures:  # the parity plot and learning curve for optuna-dashboard
            upload_artifact(artifact_store=store, file_path=str(name), study_or_trial=trial)
        save_new_trial_note(trial, "MLflow run [x](http://127.0.0.1:5000/#/experiments/1/runs/x)")
        trial.set_user_attr(RESULT_ATTR, {key: [1.0] * 8 for key in RESULT_KEYS})
        attributes += time.perf_counter() - attributes_start
        tell_start = time.perf_counter()
        study.tell(trial, 0.5)
        parts["optuna"] += (asked - start) + (time.perf_counter() - tell_start)
        parts["reports"] += reports
        parts["attributes"] += attributes
    return {name: 1000 * total / trials for name, total in parts.items()}


def note_ms(url: str, trials: int, sample: int = 20) -> tuple[float, float]:
    """(optuna-dashboard's ``save_note``, pesweep's ``save_new_trial_note``) ms per note after
    ``trials`` trials with notes: the former reads every note of the study."""
    from optuna_dashboard import save_note

    from hpo.study.setup import connect_storage
    from hpo.study.trial_note import save_new_trial_note

    study = optuna.create_study(study_name=f"notes-{time.time_ns()}", storage=connect_storage(url))
    for _ in range(trials):
        save_new_trial_note(study.ask(), "MLflow run [x](http://127.0.0.1:5000/#/x)")
    seconds = {save_note: 0.0, save_new_trial_note: 0.0}
    for _ in range(sample):  # interleaved
        for writer in seconds:
            trial = study.ask()
            start = time.perf_counter()
            writer(trial, "MLflow run [x](http://127.0.0.1:5000/#/x)")
            seconds[writer] += time.perf_counter() - start
    return 1000 * seconds[save_note] / sample, 1000 * seconds[save_new_trial_note] / sample


def epochs_lost(folder: Path, epochs: int, kill_at: int, run: int) -> tuple[int, int]:
    """(epochs the retry trains again, the epoch it resumed at) for a trial killed at ``kill_at``."""
    study = f"kill-{run}"
    storage = f"sqlite:///{folder / study}.db"
    beat = ("--heartbeat-interval", "1", "--grace-period", "2", "--max-epochs", str(epochs))
    first = subprocess.Popen(
        sweep_command(folder, study, "--n-trials", "1", *beat),
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        try:
            trials = optuna.load_study(study_name=study, storage=storage).trials
        except Exception:  # not created yet
            trials = []
        if trials and len(trials[0].intermediate_values) >= kill_at:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            break
        if first.poll() is not None:
            raise SystemExit("the first trial ended before it could be killed; raise --epochs")
        time.sleep(0.02)
    reached = max(trials[0].intermediate_values) + 1  # epochs it had finished and reported
    time.sleep(3.5)
    subprocess.run(
        sweep_command(folder, study, "--n-trials", "1", *beat),
        check=True,
        capture_output=True,
        cwd=folder,
    )
    retry = optuna.load_study(study_name=study, storage=storage).trials[1]
    resumed = int(retry.user_attrs["resumed_at_epoch"])
    return reached - resumed, resumed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--storage-trials", type=int, default=50)
    parser.add_argument("--kill-at", type=int, default=4)
    parser.add_argument("--structures", type=int, default=400, help="EMT clusters made")
    parser.add_argument("--parts", default="1,2,3", help="which of the three to run")
    args = parser.parse_args()
    parts = {int(x) for x in args.parts.split(",")}
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"cores: {len(os.sched_getaffinity(0))}")
    with tempfile.TemporaryDirectory(prefix="pesweep-scaling-") as name:
        folder = Path(name)
        (folder / "space.yaml").write_text(SPACE)
        write_emt_clusters(folder / "clusters.xyz", n_structures=args.structures, seed=0)
        if 1 in parts:
            workers_part(folder, args)
        if 2 in parts:
            storage_part(folder, args)
        if 3 in parts:
            kill_part(folder, args)


def workers_part(folder: Path, args: argparse.Namespace) -> None:
    whole: dict[int, list[float]] = {1: [], 2: []}
    steady: dict[int, list[float]] = {1: [], 2: []}
    startup: dict[int, list[float]] = {1: [], 2: []}
    for run in range(args.repeats):
        for workers in (1, 2):
            rate, rate_steady, seconds = trials_per_hour(
                folder, workers, args.trials, args.epochs, run
            )
            whole[workers].append(rate)
            steady[workers].append(rate_steady)
            startup[workers].append(seconds)
    print(f"\n1. trials per hour, {args.trials} trials of {args.epochs} epochs per run")
    for name, rates in (("whole command", whole), ("steady state", steady)):
        ratios = [b / a for a, b in zip(rates[1], rates[2], strict=True)]
        print(f"  {name}: 1 worker {spread(rates[1])}")
        print(f"  {name}: 2 workers {spread(rates[2])}")
        print(f"  {name}: ratio 2/1 {spread(ratios)}   (goal >= 1.8)")
    for workers in (1, 2):
        print(f"  start-up to the first trial, s: {workers} worker(s) {spread(startup[workers])}")


def storage_part(folder: Path, args: argparse.Namespace) -> None:
    print(f"\n2. Optuna storage per trial ({args.epochs} reports), ms")
    sqlite: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for repeat in range(args.repeats):  # interleaved: Optuna's own opening, then pesweep's
        for plain in (True, False):
            url = f"sqlite:///{folder / f'overhead-{repeat}-{plain}.db'}"
            sqlite[plain].append(storage_ms_per_trial(url, args.storage_trials, args.epochs, plain))
    print_storage("SQLite, as Optuna opens it (rollback journal)", sqlite[True])
    print_storage("SQLite, pesweep (write-ahead log on a local disk)", sqlite[False])
    notes = [
        note_ms(f"sqlite:///{folder / f'notes-{repeat}.db'}", 500) for repeat in range(args.repeats)
    ]
    print(
        f"  a trial's dashboard note in a study of 500 noted trials, ms: optuna-dashboard's "
        f"save_note {spread([a for a, _ in notes])}, pesweep's {spread([b for _, b in notes])}"
    )
    try:
        from loopback_services import PostgresServer, ServiceMissing
    except ImportError:  # imported as benchmarks.scaling
        from benchmarks.loopback_services import PostgresServer, ServiceMissing

    try:
        server = PostgresServer()
    except ServiceMissing as missing:
        print(f"  PostgreSQL: not measured ({missing})")
        return
    try:
        url = server.create_database("overhead")
        postgres = [
            storage_ms_per_trial(url, args.storage_trials, args.epochs) for _ in range(args.repeats)
        ]
    finally:
        server.stop()
    print_storage("PostgreSQL", postgres)


def print_storage(name: str, runs: list[dict[str, float]]) -> None:
    """The total per trial against the goal, then its parts: Optuna's floor, reports, ours."""
    totals = [sum(run.values()) for run in runs]
    print(f"  {name}: {spread(totals)}   (goal < 50)")
    labels = {
        "optuna": "ask + suggest + tell (any Optuna trial)",
        "reports": "one report and median-pruner check per epoch",
        "attributes": "pesweep's attributes, note and figure records",
    }
    for part, label in labels.items():
        print(f"    {label}: {spread([run[part] for run in runs])}")


def kill_part(folder: Path, args: argparse.Namespace) -> None:
    print(f"\n3. a trial killed with kill -9 after {args.kill_at} epochs, retried")
    lost = [epochs_lost(folder, 30, args.kill_at, run) for run in range(args.repeats)]
    print(
        f"  epochs trained again: {[a for a, _ in lost]} (resumed at epochs "
        f"{[b for _, b in lost]}); restarting would train {args.kill_at}+ again   (goal <= 1)"
    )


if __name__ == "__main__":
    main()
