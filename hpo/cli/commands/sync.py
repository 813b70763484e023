"""``pesweep sync --study NAME``: the command line of :mod:`hpo.sweep.sync`."""

from __future__ import annotations

import argparse

import optuna

from hpo.runtime.errors import StudyError
from hpo.study.setup import EXPERIMENT_ATTR, PARENT_RUN_ATTR, load_study_to_read, stored_setup
from hpo.sweep.sync import sync_study
from hpo.tracking.runs import STUDY_UID_TAG, Tracker
from hpo.tracking.stores import StoreError, check_tracking_store, tracking_store


def run_sync(args: argparse.Namespace) -> int:
    """``pesweep sync``: write the runs, metrics and artifacts a tracking outage left out."""
    study = load_study_to_read(args.study, args.storage)
    setup = stored_setup(study)
    if setup is None:
        raise StudyError(f"study {args.study!r} was not made by pesweep; nothing to sync")
    tracking = tracking_store(args.tracking_uri, setup.tracking_uri)
    try:
        check_tracking_store(tracking)
    except StoreError as error:
        raise StudyError(str(error)) from error
    tracker = Tracker(
        tracking,
        str(study.user_attrs.get(EXPERIMENT_ATTR, args.study)),
        {STUDY_UID_TAG: setup.study_uid},
    )
    parent = str(study.user_attrs.get(PARENT_RUN_ATTR, ""))
    try:
        tracker.client.get_run(parent)
    except Exception:  # a new tracking store: the study gets a parent run there
        parent = tracker.start_parent_run(args.study, {STUDY_UID_TAG: setup.study_uid})
        tracker.end_run(parent, "FINISHED")
        study.set_user_attr(PARENT_RUN_ATTR, parent)
    report = sync_study(study, tracker, parent, setup)
    if tracker.client.get_run(parent).info.status == "RUNNING" and not study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
    ):  # its sweep ended while the server was away
        tracker.end_run(parent, "FINISHED")
        print(f"study {args.study!r}: its parent run {parent} ended as FINISHED")
    print(f"study {args.study!r} -> {tracking}: {report.describe()}")
    return 0
