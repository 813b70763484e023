"""Handlers of the ``pesweep`` subcommands (argument parsing stays in :mod:`hpo.cli`)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("pesweep")


def _sweep_options(args: argparse.Namespace) -> Any:
    from hpo.retries import Heartbeat
    from hpo.sweep import SweepOptions
    from lightning_modules.training.config import element_energies_file

    overrides = {}
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    if args.drop_flagged:
        overrides["drop_flagged"] = True
    if args.drop_outliers:
        overrides["drop_outliers"] = True
    if args.element_energies:  # read now: the study records the values, not only the file
        overrides.update(element_energies_file(args.element_energies))
    return SweepOptions(
        study_name=args.study,
        storage=args.storage,
        space=args.space,
        data=tuple(args.data) if args.data else None,
        energy_unit=args.energy_unit,
        n_trials=args.n_trials,
        timeout=args.timeout,
        sampler=args.sampler,
        pruner=args.pruner,
        max_epochs=args.max_epochs,
        seed=args.seed,
        objectives=tuple(args.objectives.split(",")) if args.objectives else None,
        tracking_uri=args.tracking_uri,
        runs_dir=args.runs_dir,
        train_overrides=overrides,
        show_progress_bar=not args.no_progress_bar,
        trial_progress_bar=args.trial_progress_bar,
        init_from=args.init_from,
        study_trials=args.study_trials,
        max_retries=args.max_retries,
        heartbeat=Heartbeat(args.heartbeat_interval, args.grace_period),
    )


def print_summary(outcome: Any, storage: str) -> None:
    """The best trial, where everything is stored, and how to look at it (passwords hidden)."""
    from optuna.trial import TrialState

    from hpo.stores import mask_url

    storage = mask_url(storage)
    tracking = mask_url(outcome.tracking_uri)
    study = outcome.study
    print(
        f"study {study.study_name!r}: {outcome.count(TrialState.COMPLETE)} complete, "
        f"{outcome.count(TrialState.PRUNED)} pruned, {outcome.count(TrialState.FAIL)} failed"
    )
    if outcome.count(TrialState.COMPLETE):
        if len(study.directions) == 1:
            best = study.best_trial
            test_mae = best.user_attrs.get("test_metrics", {}).get("test_energy_mae", float("nan"))
            print(
                f"best trial {best.number}: val_energy_mae {best.value:.6g} eV "
                f"(test {test_mae:.6g} eV)"
            )
            for name, value in best.params.items():
                print(f"  {name} = {value}")
            print(f"  checkpoint: {best.user_attrs.get('checkpoint_path')}")
            print(f"  MLflow run: {best.user_attrs.get('mlflow_run_id')}")
        else:
            print("Pareto front (" + ", ".join(outcome.setup.objectives) + "):")
            for trial in study.best_trials:
                print(f"  trial {trial.number}: {trial.values}")
    print(f"study storage: {storage}")
    print(
        f"MLflow tracking: {tracking}, experiment {outcome.experiment_name!r} "
        f"(parent run {outcome.parent_run_id})"
    )
    print(f"trial checkpoints: {outcome.runs_dir}")
    print("look at it:")
    print(f"  pesweep ui --study-storage {storage} --tracking-uri {tracking}")
    print(f"  pesweep report --study {study.study_name} --storage {storage} --out report.html")
    print(f"  (or: optuna-dashboard {storage} ; mlflow ui --backend-store-uri {tracking})")


def run_sweep_command(args: argparse.Namespace) -> int:
    """``pesweep sweep``: create, resume or join a study and run trials (``--workers K`` at once)."""
    from hpo.sweep import run_sweep, stored_outcome
    from hpo.workers import parse_devices, run_workers

    options = _sweep_options(args)
    devices = parse_devices(args.devices)
    workers = args.workers or len(devices) or 1
    if workers == 1 and not devices:
        outcome = run_sweep(options)
    else:
        status = run_workers(options, workers, devices, args.verbose)
        if status != 0:
            return status
        outcome = stored_outcome(options)
    print_summary(outcome, args.storage)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """``pesweep demo``: a small real sweep end to end, on EMT data it makes or on --data."""
    from hpo.sweep import SweepOptions, run_sweep
    from lightning_modules.data.emt_data import write_emt_clusters

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.data:
        data = tuple(str(Path(p).resolve()) for p in args.data)
        unit = args.energy_unit or "ev"
    else:
        path = workdir / "cuau_emt.xyz"
        if not path.exists():
            print(
                f"making {args.n_structures} Cu/Au clusters with ASE's EMT calculator "
                f"(energies and forces) in {path}"
            )
            write_emt_clusters(path, n_structures=args.n_structures, seed=0)
        data, unit = (str(path),), "ev"
    storage = f"sqlite:///{workdir / 'pesweep.db'}"
    options = SweepOptions(
        study_name=args.study,
        storage=storage,
        space=args.space,
        data=data,
        energy_unit=unit,
        n_trials=args.n_trials,
        max_epochs=args.max_epochs,
        seed=0,
        sampler="tpe",
        pruner="median",
        tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        runs_dir=str(workdir / "runs"),
        train_overrides={"batch_size": 16},
    )
    outcome = run_sweep(options)
    print_summary(outcome, storage)
    return 0


def run_spaces(args: argparse.Namespace) -> int:
    """``pesweep spaces list|show|check``."""
    from search_spaces.space import SpaceError, load_space, shipped_spaces
    from search_spaces.suggest import grid_size

    if args.action == "list":
        for name, path in shipped_spaces().items():
            space = load_space(path)
            print(
                f"{name:20s} model {'/'.join(space.models):12s} {len(space.parameters)} "
                f"parameters  {path}"
            )
        return 0
    if not args.space:
        raise SpaceError(f"pesweep spaces {args.action} needs a space name or file")
    space = load_space(args.space)
    if args.action == "show":
        print(space.source_text.rstrip())
        return 0
    print(
        f"{args.space}: valid space {space.name!r} for model(s) {', '.join(space.models)} "
        f"with {len(space.parameters)} parameters"
    )
    try:
        print(f"full grid: {grid_size(space)} points")
    except ValueError as error:
        print(f"no grid search: {error}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """``pesweep report``: the study's HTML report."""
    import optuna

    from hpo.errors import StudyError
    from hpo.report import write_report
    from hpo.stores import mask_url, require_existing_store, resolve_tracking_uri
    from hpo.study import connect_storage, stored_setup

    require_existing_store(
        args.storage, "study storage", "pass --storage with the URL the sweep used"
    )
    try:
        study = optuna.load_study(study_name=args.study, storage=connect_storage(args.storage))
    except KeyError as error:
        raise StudyError(
            f"no study {args.study!r} in {mask_url(args.storage)}; pass "
            f"--storage with the URL the sweep used"
        ) from error
    setup = stored_setup(study)
    tracking_uri = resolve_tracking_uri(args.tracking_uri, setup.tracking_uri if setup else None)
    require_existing_store(
        tracking_uri, "MLflow tracking store", "pass --tracking-uri with the URI the sweep used"
    )
    try:
        path = write_report(study, args.out, tracking_uri)
    except ValueError as error:
        raise StudyError(str(error)) from error
    print(f"report written to {path} (also logged to the study's MLflow parent run)")
    return 0


def run_ui_command(args: argparse.Namespace) -> int:
    """``pesweep ui``: both dashboards until Ctrl-C."""
    from dashboards.ui import run_ui

    artifact_dir = args.artifact_dir or _recorded_artifact_dir(args.study_storage)
    return run_ui(
        study_storage=args.study_storage,
        tracking_uri=args.tracking_uri,
        host=args.host,
        port=args.port,
        mlflow_port=args.mlflow_port,
        artifact_dir=artifact_dir,
    )


def _recorded_artifact_dir(storage: str) -> str | None:
    import optuna

    from hpo.study import connect_storage
    from hpo.sweep import ARTIFACT_DIR_ATTR

    if storage.startswith("sqlite:///") and not Path(storage.removeprefix("sqlite:///")).exists():
        return None  # start_ui says what is missing
    for summary in optuna.get_all_study_summaries(connect_storage(storage)):
        if ARTIFACT_DIR_ATTR in summary.user_attrs:
            return str(summary.user_attrs[ARTIFACT_DIR_ATTR])
    return None


def add_sweep_commands(
    sub: Any, add_data_arguments: Callable[[argparse.ArgumentParser, bool], None]
) -> None:
    """Register the sweep-related subcommands (sweep, demo, spaces)."""
    from hpo.cli import (
        add_element_energies_argument,
        non_negative_int,
        positive_float,
        positive_int,
    )
    from hpo.retries import DEFAULT_HEARTBEAT, DEFAULT_MAX_RETRIES
    from hpo.stores import default_storage
    from hpo.study import OBJECTIVES, PRUNERS, SAMPLERS
    from lightning_modules.conventions import DEFAULT_STORAGE, DEFAULT_TRACKING_URI, STORAGE_ENV

    sweep = sub.add_parser(
        "sweep",
        help="run an Optuna study over a search space, every trial tracked in MLflow",
        description="Create a study (--space and --data), or resume/join it by --study alone: "
        "the study remembers its space, data, unit, epochs, seed, sampler and pruner.",
    )
    sweep.add_argument("--study", required=True, help="study name (resumes it if it exists)")
    sweep.add_argument(
        "--space", help="search space: a YAML file or a shipped name (pesweep spaces list)"
    )
    add_data_arguments(sweep, False)
    sweep.add_argument("--n-trials", type=positive_int, help="trials to run now (in this process)")
    sweep.add_argument(
        "--study-trials",
        type=positive_int,
        metavar="N",
        help="stop once the study holds N complete or pruned trials, counting every worker's",
    )
    sweep.add_argument(
        "--timeout", type=positive_float, help="stop starting trials after this many seconds"
    )
    sweep.add_argument(
        "--workers",
        type=positive_int,
        metavar="K",
        help="K worker processes on this machine, cores/K torch threads each (default 1, or "
        "one per --devices entry); --n-trials is shared out among them",
    )
    sweep.add_argument(
        "--devices",
        metavar="0,1,...",
        help="GPUs for the workers (CUDA_VISIBLE_DEVICES, round robin): --devices 0 --workers "
        "2 puts two workers on GPU 0",
    )
    sweep.add_argument(
        "--max-retries",
        type=non_negative_int,
        default=DEFAULT_MAX_RETRIES,
        help="retries of a trial whose worker was preempted or died; a retry resumes from the "
        f"trial's last finished epoch (default {DEFAULT_MAX_RETRIES})",
    )
    sweep.add_argument(
        "--heartbeat-interval",
        type=positive_int,
        default=DEFAULT_HEARTBEAT.interval,
        metavar="SECONDS",
        help="how often a running trial tells the storage it is alive (default "
        f"{DEFAULT_HEARTBEAT.interval})",
    )
    sweep.add_argument(
        "--grace-period",
        type=positive_int,
        default=DEFAULT_HEARTBEAT.grace_period,
        metavar="SECONDS",
        help="a trial silent this long is failed as 'worker lost' by the next worker and "
        f"retried (default {DEFAULT_HEARTBEAT.grace_period})",
    )
    sweep.add_argument(
        "--storage",
        default=default_storage(),
        help=f"Optuna storage URL (default ${STORAGE_ENV}, else "
        f"{DEFAULT_STORAGE}; postgresql://... for shared studies: keep its "
        f"password in ${STORAGE_ENV}, not on the command line)",
    )
    sweep.add_argument("--sampler", choices=SAMPLERS, help="default tpe")
    sweep.add_argument("--pruner", choices=PRUNERS, help="default median")
    sweep.add_argument("--max-epochs", type=positive_int, help="epochs per trial (default 20)")
    sweep.add_argument(
        "--seed", type=non_negative_int, help="seed of split, training and sampler (default 0)"
    )
    sweep.add_argument(
        "--objectives",
        help=f"comma-separated, from {', '.join(OBJECTIVES)} "
        "(default energy_mae; two or more give a Pareto front)",
    )
    sweep.add_argument("--batch-size", type=positive_int, help="training batch size (default 32)")
    sweep.add_argument(
        "--drop-flagged",
        action="store_true",
        help="exclude the structures beyond the audit's physical bound",
    )
    sweep.add_argument(
        "--drop-outliers",
        action="store_true",
        help="also exclude the audit's robust outliers within the bound",
    )
    add_element_energies_argument(sweep)
    sweep.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default sqlite:///mlflow.db in the working directory)",
    )
    sweep.add_argument("--runs-dir", default="pesweep_runs", help="where trial checkpoints go")
    sweep.add_argument(
        "--init-from",
        metavar="MODEL",
        help="fine-tuning sweep: every trial starts from this model "
        "(models:/NAME@ALIAS or a checkpoint); the space samples lr, strategy, ...",
    )
    sweep.add_argument("--no-progress-bar", action="store_true", help="no bar over trials")
    sweep.add_argument(
        "--trial-progress-bar",
        action="store_true",
        help="also show Lightning's bar inside each trial",
    )
    sweep.set_defaults(handler=run_sweep_command)

    demo = sub.add_parser(
        "demo", help="a small real sweep end to end (EMT Cu/Au data made on the spot, or --data)"
    )
    add_data_arguments(demo, False)
    demo.add_argument("--workdir", default="pesweep_demo", help="where data, study and runs go")
    demo.add_argument("--study", default="demo")
    demo.add_argument("--space", default="demo")
    demo.add_argument("--n-trials", type=positive_int, default=8)
    demo.add_argument("--max-epochs", type=positive_int, default=15)
    demo.add_argument(
        "--n-structures",
        type=positive_int,
        default=300,
        help="EMT clusters to make when no --data is given",
    )
    demo.set_defaults(handler=run_demo)

    report = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a study "
        "(and log it to the study's MLflow parent run)",
    )
    report.add_argument("--study", required=True)
    report.add_argument(
        "--storage",
        default=default_storage(),
        help=f"Optuna storage URL (default ${STORAGE_ENV}, else {DEFAULT_STORAGE})",
    )
    report.add_argument("--out", default="report.html")
    report.add_argument("--tracking-uri", help="default: the study's own")
    report.set_defaults(handler=run_report)

    ui = sub.add_parser("ui", help="start optuna-dashboard and the MLflow UI (Ctrl-C stops both)")
    ui.add_argument("--study-storage", default=default_storage())
    ui.add_argument("--tracking-uri", default=DEFAULT_TRACKING_URI)
    ui.add_argument("--host", default="127.0.0.1", help="default loopback only")
    ui.add_argument("--port", type=int, default=8080, help="optuna-dashboard port")
    ui.add_argument("--mlflow-port", type=int, default=5000)
    ui.add_argument("--artifact-dir", help="trial figures (default: recorded by the sweep)")
    ui.set_defaults(handler=run_ui_command)

    spaces = sub.add_parser("spaces", help="list, show or check search spaces")
    spaces.add_argument("action", choices=["list", "show", "check"])
    spaces.add_argument("space", nargs="?", help="a shipped space name or a YAML file")
    spaces.set_defaults(handler=run_spaces)
