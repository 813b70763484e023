"""``pesweep sweep`` and ``demo``: run a study (or several workers of one) and sum it up."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo.study.retries import Heartbeat
from hpo.study.setup import connect_storage, storage_exists
from hpo.study.trial_record import best_trial, trial_result
from hpo.sweep.options import SweepOptions, stored_outcome
from hpo.sweep.workers import parse_devices, run_workers
from hpo.tracking.stores import optuna_storage
from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.store_uris import absolute_url, mlflow_runs_url

logger = logging.getLogger("pesweep")


def _sweep_options(args: argparse.Namespace) -> Any:
    """The frozen sweep configuration of ``pesweep sweep``'s arguments."""
    overrides = {}
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    if args.loss is not None:
        overrides["loss"] = args.loss
    if args.loss_alpha is not None:
        overrides["ranking_alpha"] = args.loss_alpha
    if args.drop_flagged:
        overrides["drop_flagged"] = True
    if args.keep_flagged_in_test:
        overrides["keep_flagged_in_test"] = True
    if args.drop_outliers:
        overrides["drop_outliers"] = True
    if args.element_energies:  # read now: the study records the values, not only the file
        # torch: imported only when asked (the parent of --workers K imports no training library)
        from lightning_modules.training.config import element_energies_file

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
        system_metrics=args.system_metrics,
        heartbeat=Heartbeat(args.heartbeat_interval, args.grace_period),
        md_spec=args.md_spec,
        md_constraint=args.md_constraint,
    )


def print_summary(outcome: Any, storage: str | None) -> None:
    """The best trial, where everything is stored, and how to look at it (passwords hidden)."""
    storage = absolute_url(optuna_storage(storage).masked)
    tracking = absolute_url(outcome.tracking.masked)
    study = outcome.study
    print(
        f"study {study.study_name!r}: {outcome.count(TrialState.COMPLETE)} complete, "
        f"{outcome.count(TrialState.PRUNED)} pruned, {outcome.count(TrialState.FAIL)} failed"
    )
    best = best_trial(study) if len(study.directions) == 1 else None
    if outcome.count(TrialState.COMPLETE):
        if len(study.directions) == 1 and best is None:
            print(
                "no feasible trial: every complete trial's model failed the --md-constraint "
                "MD check (its reason is in the trial's md_check attribute and MLflow run)"
            )
        elif best is not None:
            recorded = trial_result(best)
            test_mae = recorded.get("test_metrics", {}).get("test_energy_mae_eV", float("nan"))
            print(
                f"best trial {best.number}: val_energy_mae_eV {best.value:.6g}, "
                f"test_energy_mae_eV {test_mae:.6g}"
            )
            for name, value in best.params.items():
                print(f"  {name} = {value}")
            print(f"  checkpoint: {recorded.get('checkpoint_path')}")
            print(f"  MLflow run: {best.user_attrs.get('mlflow_run_id')}")
        else:
            print("Pareto front (" + ", ".join(outcome.setup.objectives) + "):")
            for trial in study.best_trials:
                print(f"  trial {trial.number}: {trial.values}")
    print(f"study storage: {storage}")
    experiment_id = _experiment_id(outcome)
    print(
        f"MLflow tracking: {tracking}, experiment {outcome.experiment_name!r} (id "
        f"{experiment_id}, parent run {outcome.parent_run_id})"
    )
    print(f"trial checkpoints: {outcome.runs_dir}")
    print("look at it:")
    print(f"  pesweep ui --storage {storage} --tracking-uri {tracking}")
    print(f"  pesweep report --study {study.study_name} --storage {storage} --out report.html")
    print(f"  (or: optuna-dashboard {storage} ; mlflow ui --backend-store-uri {tracking})")
    server = tracking if tracking.startswith(("http://", "https://")) else LOCAL_MLFLOW_UI
    print(f"  the trials in the MLflow UI: {mlflow_runs_url(server, experiment_id, BEST_METRIC)}")


LOCAL_MLFLOW_UI = "http://127.0.0.1:5000"  # where `mlflow ui` and `pesweep ui` serve it


BEST_METRIC = "best_val_energy_mae_eV"  # every trial run's and the parent run's


def _experiment_id(outcome: Any) -> str:
    """The MLflow id of the study's experiment ('?' when the store cannot be read now)."""
    from hpo.tracking.runs import tracking_client  # MLflow: imported once the sweep is done

    try:
        experiment = tracking_client(outcome.tracking).get_experiment_by_name(
            outcome.experiment_name
        )
    except Exception:  # the summary must not fail on a tracking server that went away
        return "?"
    return experiment.experiment_id if experiment is not None else "?"


def run_sweep_command(args: argparse.Namespace) -> int:
    """``pesweep sweep``: create, resume or join a study and run trials (``--workers K`` at once)."""
    options = _sweep_options(args)
    devices = parse_devices(args.devices)
    workers = args.workers or len(devices) or 1
    if workers == 1 and not devices:
        from hpo.sweep.runner import run_sweep  # the parent of --workers K never imports torch

        outcome = run_sweep(options)
    else:
        status = run_workers(options, workers, devices, args.verbose)
        if status != 0:
            return status
        outcome = stored_outcome(options)
    print_summary(outcome, args.storage)
    return 0


def _trials_so_far(study_name: str, storage: str) -> int | None:
    """The trials study ``study_name`` holds in ``storage``, None when it does not exist yet."""
    if not storage_exists(storage):
        return None
    for summary in optuna.get_all_study_summaries(connect_storage(storage)):
        if summary.study_name == study_name:
            return summary.n_trials
    return None


def run_demo(args: argparse.Namespace) -> int:
    """``pesweep demo``: a small real sweep end to end, on EMT data it makes or on --data."""
    from hpo.sweep.runner import run_sweep  # torch and MLflow, as in run_sweep_command
    from lightning_modules.data.emt_data import write_emt_clusters

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.data:
        data = tuple(str(Path(p).resolve()) for p in args.data)
        unit = args.energy_unit or DEFAULT_ENERGY_UNIT
    else:
        path = workdir / "cuau_emt.xyz"
        if not path.exists():
            print(
                f"making {args.n_structures} Cu/Au clusters with ASE's EMT calculator "
                f"(energies and forces) in {path}"
            )
            write_emt_clusters(path, n_structures=args.n_structures, seed=0)
        data, unit = (str(path),), DEFAULT_ENERGY_UNIT
    storage = f"sqlite:///{workdir / 'pesweep.db'}"
    earlier = _trials_so_far(args.study, storage)
    if earlier is not None:
        print(
            f"study {args.study!r} in {workdir / 'pesweep.db'} has {earlier} trials from an "
            f"earlier demo: adding {args.n_trials} more (--study NAME starts a fresh one)"
        )
    options = SweepOptions(
        study_name=args.study,
        storage=storage,
        space=args.space,
        data=data,
        energy_unit=unit,
        n_trials=args.n_trials,
        max_epochs=args.max_epochs,
        seed=0,
        # the defaults for data with forces, which the demo's hold (TPE after 20 start-up
        # trials, successive halving)
        sampler=None,
        pruner=None,
        tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        runs_dir=str(workdir / "runs"),
        train_overrides={"batch_size": 16},
    )
    outcome = run_sweep(options)
    print_summary(outcome, storage)
    return 0
