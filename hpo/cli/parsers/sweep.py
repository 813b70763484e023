"""The arguments of ``sweep`` and ``demo``."""

from __future__ import annotations

from typing import Any

from hpo.cli.arguments import (
    add_data_arguments,
    add_element_energies_argument,
    add_storage_argument,
    non_negative_int,
    positive_float,
    positive_int,
)
from hpo.study.defaults import SWEEP_DEFAULTS
from hpo.study.registries import OBJECTIVES, PRUNERS, SAMPLERS
from hpo.study.retries import DEFAULT_HEARTBEAT
from lightning_modules.conventions import LOSSES

# why the defaults are what they are, one line each (the search suite, benchmarks/hpo_suite.py)
SUITE_TABLE = "docs/benchmarks/index.md#the-search-suite"
SAMPLER_EVIDENCE = (
    "with forces, TPE after 20 random start-up trials with successive halving is the only "
    "strategy that saves 75%% of random search's trial-epochs on both problems (CuAu/water "
    "79%%, 71-86%%; TiO2 79%%, 69-84%%; chance 0-38%% and 0-1%%; at sixteen times the budget, "
    "0.95 and 0.88 of random's best at equal budget); ten start-up trials meet it on "
    "CuAu/water only; on SeB20 energies no sampler differs from random search; "
    f"{SUITE_TABLE}"
)
PRUNER_EVIDENCE = (
    "the search suite's winners, 20 seeds each: on SeB20 energies TPE + median saves 31%% "
    "(4-51%%) of random search's trial-epochs against chance's 0-27%%, and successive halving "
    "ends 1.05x worse than median (p = 0.014); with forces successive halving leads the "
    "median pruner on CuAu/water and TiO2 (0.985 and 0.965 of its best, not significantly) "
    f"and meets the goal on both with TPE at sixteen times the budget; {SUITE_TABLE}"
)


def add_sweep_commands(sub: Any) -> None:
    """Register the sweep-related subcommands (sweep, demo, spaces)."""
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
        default=SWEEP_DEFAULTS.max_retries,
        help="retries of a trial whose worker was preempted or died; a retry resumes from the "
        f"trial's last finished epoch (default {SWEEP_DEFAULTS.max_retries})",
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
    add_storage_argument(sweep)
    sweep.add_argument(
        "--sampler",
        choices=SAMPLERS,
        help=f"a new study's sampler (default {SWEEP_DEFAULTS.sampler} for data with energies "
        f"only, {SWEEP_DEFAULTS.sampler_with_forces} for data with forces: {SAMPLER_EVIDENCE})",
    )
    sweep.add_argument(
        "--pruner",
        choices=PRUNERS,
        help=f"a new study's pruner (default {SWEEP_DEFAULTS.pruner} for data with energies "
        f"only, {SWEEP_DEFAULTS.pruner_with_forces} for data with forces: {PRUNER_EVIDENCE})",
    )
    sweep.add_argument(
        "--max-epochs",
        type=positive_int,
        help=f"epochs per trial (default {SWEEP_DEFAULTS.max_epochs})",
    )
    sweep.add_argument(
        "--seed",
        type=non_negative_int,
        help=f"seed of split, training and sampler (default {SWEEP_DEFAULTS.seed})",
    )
    sweep.add_argument(
        "--objectives",
        help=f"comma-separated, from {', '.join(OBJECTIVES)} "
        f"(default {','.join(SWEEP_DEFAULTS.objectives)}; two or more give a Pareto front; "
        "md_stable_ps is maximised and needs --md-spec)",
    )
    sweep.add_argument(
        "--md-spec",
        metavar="SPEC",
        help="YAML of the MD check (see pesweep md-check) run on every trial's best model "
        "after training: the md_stable_ps objective's value",
    )
    sweep.add_argument(
        "--md-constraint",
        metavar="SPEC",
        help="YAML of an MD check as an Optuna constraint: a trial whose model fails it is "
        "infeasible, and the sampler (tpe or nsga2) steers away from it",
    )
    sweep.add_argument("--batch-size", type=positive_int, help="training batch size (default 32)")
    sweep.add_argument(
        "--loss",
        choices=LOSSES,
        help="every trial's loss: rmse (default) or mae (a space may search it instead: "
        "loss: {type: categorical, choices: [rmse, mae]})",
    )
    sweep.add_argument(
        "--loss-alpha",
        type=float,
        metavar="W",
        help="the force weight of the validation loss that ranks the trials (objective loss): "
        "(1 - W) L_E + W L_F for every trial, whatever alpha it trains with (set it where "
        "the space samples alpha; default: each trial's own alpha)",
    )
    sweep.add_argument(
        "--drop-flagged",
        action="store_true",
        help="exclude the structures beyond the audit's physical bound",
    )
    sweep.add_argument(
        "--keep-flagged-in-test",
        action="store_true",
        help="with --drop-flagged: trials train and validate (are ranked) on the audit-clean "
        "subset and test on every structure",
    )
    sweep.add_argument(
        "--drop-outliers",
        action="store_true",
        help="also exclude the audit's robust outliers within the bound",
    )
    add_element_energies_argument(sweep)
    sweep.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the study's own, else "
        "sqlite:///mlflow.db in the working directory)",
    )
    sweep.add_argument(
        "--runs-dir", default=SWEEP_DEFAULTS.runs_dir, help="where trial checkpoints go"
    )
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
    sweep.add_argument(
        "--system-metrics",
        action="store_true",
        help="log CPU, memory and GPU use into each trial's run (MLflow's system metrics; "
        "needs pip install -e '.[system-metrics]')",
    )
    sweep.set_defaults(handler="sweep:run_sweep_command")

    demo = sub.add_parser(
        "demo", help="a small real sweep end to end (EMT Cu/Au data made on the spot, or --data)"
    )
    add_data_arguments(demo, False)
    demo.add_argument("--workdir", default="pesweep_demo", help="where data, study and runs go")
    demo.add_argument("--study", default="demo", help="study name")
    demo.add_argument("--space", default="demo", help="search space: a YAML file or a shipped name")
    demo.add_argument("--n-trials", type=positive_int, default=8, help="trials to run")
    demo.add_argument("--max-epochs", type=positive_int, default=15, help="epochs per trial")
    demo.add_argument(
        "--n-structures",
        type=positive_int,
        default=300,
        help="EMT clusters to make when no --data is given",
    )
    demo.set_defaults(handler="sweep:run_demo")
