"""What the commands that look at studies do: ``report``, ``ui`` and ``spaces``."""

from __future__ import annotations

import argparse

import optuna

from dashboards.ui import run_ui
from hpo.runtime.errors import StudyError
from hpo.runtime.interrupts import Interrupted
from hpo.runtime.outputs import check_output_file
from hpo.study.setup import connect_storage, load_study_to_read, stored_setup
from hpo.sweep.runner import ARTIFACT_DIR_ATTR
from hpo.tracking.stores import Store, optuna_storage, tracking_store
from hpo.workflows.report import write_report
from search_spaces.space import SpaceError, load_space, shipped_spaces
from search_spaces.suggest import grid_size


def run_spaces(args: argparse.Namespace) -> int:
    """``pesweep spaces list|show|check``."""
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
    study = load_study_to_read(args.study, args.storage)
    setup = stored_setup(study)
    check_output_file(args.out, setup.data if setup else (), args.force)
    tracking = tracking_store(
        args.tracking_uri, setup.tracking_uri if setup else None
    ).require_existing("MLflow tracking store", "pass --tracking-uri with the URI the sweep used")
    try:
        path = write_report(study, args.out, tracking)
    except ValueError as error:
        raise StudyError(str(error)) from error
    print(f"report written to {path} (also logged to the study's MLflow parent run)")
    return 0


def run_ui_command(args: argparse.Namespace) -> int:
    """``pesweep ui``: both dashboards until Ctrl-C."""
    storage = optuna_storage(args.study_storage)
    artifact_dir = args.artifact_dir or _recorded_artifact_dir(storage)
    try:
        return run_ui(
            study_storage=storage.uri,
            tracking_uri=tracking_store(args.tracking_uri).uri,
            host=args.host,
            port=args.port,
            mlflow_port=args.mlflow_port,
            artifact_dir=artifact_dir,
        )
    except Interrupted as interruption:  # Ctrl-C: the way to stop it, not a failure
        print(f"pesweep ui: {interruption}: both dashboards stopped")
        return 0


def _recorded_artifact_dir(storage: Store) -> str | None:
    """The optuna-dashboard artifact folder a study of ``storage`` recorded, if any."""
    if storage.missing_file is not None:
        return None  # start_ui says what is missing
    for summary in optuna.get_all_study_summaries(connect_storage(storage)):
        if ARTIFACT_DIR_ATTR in summary.user_attrs:
            return str(summary.user_attrs[ARTIFACT_DIR_ATTR])
    return None
