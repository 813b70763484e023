"""What the SchNet_IIA reproduction scripts share: the data, the rows, the units, the table, MLflow.

The study (J. Chem. Inf. Model. 2025, 65, 92-100) reports test MAE and RMSE
on SeB20 with an 8:1:1 random split. Its numbers turn out to be Hartree per
atom (the files are Hartree; a constant predictor scores about 0.120 Ha/atom
MAE on the full SeB20 set, the published SchNet 0.118), so every table here
gives Ha/atom beside eV per structure and meV/atom, on the full test set and
on its audit-clean part (labels within the physical bound), next to a
constant predictor (the median training energy per atom) and the published values.

Every (row, seed) is trained by pesweep's own ``train`` (the SchNet of docs/how-to/training.md:
128 features, 6 interactions, 40 Gaussians, cutoff 6 A, lr 5e-4 halved on a
plateau, batch 32) and logged as a nested MLflow run under one parent run,
which also holds the table (markdown and JSON) and the learning curves
(one plotly figure).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import statistics
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    from cells import Cell, CellStore, finished_cells, run_cells
except ImportError:  # imported as benchmarks.seb_study
    from benchmarks.cells import Cell, CellStore, finished_cells, run_cells
from hpo.runtime.outputs import OutputError, claim_output_dir
from hpo.tracking.stores import tracking_store
from lightning_modules.conventions import MONITORED_METRIC
from lightning_modules.data.atoms import AtomsData
from lightning_modules.data.audit import audit_energies
from lightning_modules.data.readers import load_data
from lightning_modules.data.splits import split_indices
from lightning_modules.training.config import ConfigError, TrainConfig
from lightning_modules.training.run import TrainResult, build_datamodule, check_accelerator, train

logger = logging.getLogger("seb_study")

HARTREE_EV = 27.211386
SEB_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "seb_clusters"
TARGET = "SeBn/B=20.npz"
CHAIN = ("SeBn/B=16.npz", "SeBn/B=17.npz", "SeBn/B=18.npz", "SeBn/B=19.npz")
# Table 1's grid: features, interactions, Gaussians, cutoff, embedding, lr
GRID_CONFIGURATIONS = 5 * 9 * 5 * 5 * 5 * 4
PUBLISHED_EPOCHS = 100

# the SchNet of docs/how-to/training.md; the rows switch attention and the activation
BASE_MODEL = {"n_atom_basis": 128, "n_interactions": 6, "n_rbf": 40, "cutoff": 6.0}
BASE_TRAINING = {"lr": 5e-4, "batch_size": 32, "lr_schedule": "plateau", "lr_patience": 10}


def data_path(relative: str) -> Path:
    path = SEB_DATA / relative
    if not path.exists():
        raise SystemExit(
            f"{path} is absent: the shared SeB_n data must be beside this checkout (read in place)"
        )
    return path


def read_set(relative: str, limit: int | None = None) -> AtomsData:
    """One file of the study in eV (the files are Hartree), the first ``limit`` structures if given."""
    data = load_data(data_path(relative), energy_unit="hartree")
    if limit is not None and limit < len(data):
        data = data.subset(np.arange(limit))
    return data


SMOKE_MODEL = {"n_atom_basis": 16, "n_interactions": 2, "n_rbf": 16, "cutoff": 6.0}


def model_config(attention: bool, activation: str, smoke: bool = False) -> dict[str, Any]:
    """The SchNet of docs/how-to/training.md with the row's switches (a tiny one for ``--smoke``)."""
    return {
        **(SMOKE_MODEL if smoke else BASE_MODEL),
        "attention": attention,
        "activation": activation,
    }


def quiet() -> None:
    """INFO for the benchmark's own lines; Lightning's banners and pesweep's per-training notes hidden."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("lightning", "lightning.pytorch", "lightning_fabric", "lightning_modules"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")  # its notes on folders and deprecations


@dataclass
class Budget:
    """Epochs, seeds and size of a run; ``describe`` says how it differs from the paper's."""

    epochs: int
    source_epochs: int
    seeds: list[int]
    limit: int | None = None
    threads: int | None = None
    smoke: bool = False
    accelerator: str = "auto"  # of every training, sources and chains included

    def describe(self) -> str:
        parts = [
            f"{self.epochs} epochs per target training",
            f"{self.source_epochs} per source stage",
            f"seeds {', '.join(map(str, self.seeds))}",
        ]
        if self.limit:
            parts.append(f"only the first {self.limit} structures of each file")
        if self.smoke:
            parts.append("a tiny SchNet (16 features, 2 interactions)")
        reduced = self.epochs < PUBLISHED_EPOCHS or self.limit or len(self.seeds) < 3
        note = (
            "REDUCED budget (the paper: 100 epochs, three seeds; --full gives that)"
            if reduced
            else "the published budget"
        )
        return f"{'; '.join(parts)}: {note}"

    def training_config(
        self,
        model: dict[str, Any],
        epochs: int,
        seed: int,
        output_dir: Path | None,
        **changes: Any,
    ) -> TrainConfig:
        """One training of the study on this budget's accelerator (8:1:1 split per seed).

        ``output_dir`` None leaves it empty: a cell's training then writes into a
        temporary folder (:func:`train_cell`).
        """
        return TrainConfig(
            energy_unit="hartree",
            model="schnet",
            model_config=dict(model),
            max_epochs=epochs,
            seed=seed,
            split=(0.8, 0.1, 0.1),
            output_dir="" if output_dir is None else str(output_dir),
            progress_bar=False,
            accelerator=self.accelerator,
            **{**BASE_TRAINING, **changes},
        )


def train_on(data: AtomsData, config: TrainConfig) -> TrainResult:
    """pesweep's ``train`` on data already read (so ``--limit`` and the file's name stay ours)."""
    return train(config, datamodule=build_datamodule(config, data=data), log_audit=False)


@dataclass
class RowRun:
    """One (row, seed): its test metrics, learning curve and time."""

    row: str
    seed: int
    metrics: dict[str, float]
    curve: list[float]
    seconds: float
    checkpoint: str = ""

    @property
    def best_epoch(self) -> int:
        finite = [v if math.isfinite(v) else math.inf for v in self.curve]
        return 1 + int(np.argmin(finite)) if finite else 0


def row_run(row: str, seed: int, result: TrainResult) -> RowRun:
    curve = [float(epoch.get(MONITORED_METRIC, math.nan)) for epoch in result.history]
    return RowRun(
        row, seed, dict(result.test_metrics), curve, result.seconds, result.checkpoint_path
    )


def constant_predictor(data: AtomsData, seed: int) -> dict[str, float]:
    """Test metrics of predicting the median training energy per atom (the constant of least MAE).

    pesweep's split and audit. On the whole SeB20 set this constant scores
    0.120 Ha/atom MAE, about the published SchNet's 0.118.
    """
    split = split_indices(len(data), (0.8, 0.1, 0.1), seed)
    per_atom = data.energy / data.n_atoms
    prediction = float(np.median(per_atom[split["train"]])) * data.n_atoms
    clean = audit_energies(data).clean
    metrics: dict[str, float] = {}
    for suffix, keep in (("", np.ones(len(data), bool)), ("_clean", clean)):
        test = split["test"][keep[split["test"]]]
        error = prediction[test] - data.energy[test]
        error_atom = error / data.n_atoms[test]
        metrics[f"test_energy_mae_eV{suffix}"] = float(np.abs(error).mean())
        metrics[f"test_energy_rmse_eV{suffix}"] = float(np.sqrt((error**2).mean()))
        metrics[f"test_energy_mae_meV_per_atom{suffix}"] = 1000 * float(np.abs(error_atom).mean())
        metrics[f"test_energy_rmse_meV_per_atom{suffix}"] = 1000 * float(
            np.sqrt((error_atom**2).mean())
        )
    return metrics


def hartree_per_atom(metrics: dict[str, float], name: str) -> float:
    """A meV/atom metric in Hartree per atom (the published unit)."""
    return metrics[name] / 1000.0 / HARTREE_EV


def _cell(values: Sequence[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


@dataclass
class Table:
    """Rows of (row name -> runs over seeds), printed and stored as one table."""

    title: str
    budget: Budget
    published: dict[str, tuple[float, float | None]]
    runs: dict[str, list[RowRun]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    params: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)  # MLflow's, by run

    def add(self, run: RowRun) -> None:
        self.runs.setdefault(run.row, []).append(run)

    def columns(self) -> list[str]:
        return [
            "row",
            "MAE / RMSE, Ha/atom, full",
            "MAE / RMSE, Ha/atom, audit-clean",
            "MAE, eV/structure: full; clean",
            "MAE, meV/atom: full; clean",
            "published MAE / RMSE (Ha/atom)",
            "epochs to best val",
            "s per training",
        ]

    def row_cells(self, name: str, runs: list[RowRun]) -> list[str]:
        def values(metric: str, per_atom_ha: bool = False) -> list[float]:
            return [
                hartree_per_atom(r.metrics, metric) if per_atom_ha else r.metrics[metric]
                for r in runs
            ]

        published = self.published.get(name)
        trained = any(r.curve for r in runs)
        return [
            name,
            f"{_cell(values('test_energy_mae_meV_per_atom', True), 4)} / "
            f"{_cell(values('test_energy_rmse_meV_per_atom', True), 4)}",
            f"{_cell(values('test_energy_mae_meV_per_atom_clean', True), 4)} / "
            f"{_cell(values('test_energy_rmse_meV_per_atom_clean', True), 4)}",
            f"{_cell(values('test_energy_mae_eV'), 2)}; {_cell(values('test_energy_mae_eV_clean'), 2)}",
            f"{_cell(values('test_energy_mae_meV_per_atom'), 0)}; "
            f"{_cell(values('test_energy_mae_meV_per_atom_clean'), 0)}",
            f"{published[0]:.3f} / {'-' if published[1] is None else f'{published[1]:.3f}'}"
            if published
            else "-",
            _cell([float(r.best_epoch) for r in runs], 1) if trained else "-",
            _cell([r.seconds for r in runs], 0) if trained else "-",
        ]

    def markdown(self) -> str:
        columns = self.columns()
        lines = [
            f"{self.title} ({self.budget.describe()}; mean ± standard deviation over seeds)",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
        ]
        lines += ["| " + " | ".join(self.row_cells(n, r)) + " |" for n, r in self.runs.items()]
        lines += ["", *self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "budget": dataclasses.asdict(self.budget),
            "published_ha_per_atom": self.published,
            "rows": {
                name: [dataclasses.asdict(r) for r in runs] for name, runs in self.runs.items()
            },
            "notes": self.notes,
        }

    def learning_curves(self) -> Any:
        from dashboards.figures import learning_curves

        curves = {}
        for name, runs in self.runs.items():
            trained = [r.curve for r in runs if r.curve]
            if not trained:
                continue
            length = min(len(c) for c in trained)
            mean = [statistics.mean(c[i] for c in trained) for i in range(length)]
            curves[name] = (list(range(1, length + 1)), mean)
        return learning_curves(curves, "validation energy MAE [eV], mean over seeds")


def log_row(run: RowRun, params: dict[str, Any]) -> None:
    """One nested MLflow run of a (row, seed): test metrics (also in Ha/atom) and the curve."""
    import mlflow

    with mlflow.start_run(run_name=f"{run.row} seed {run.seed}", nested=True):
        mlflow.log_params({"row": run.row, "seed": run.seed, **params})
        mlflow.log_metrics({k: v for k, v in run.metrics.items() if math.isfinite(v)})
        for name in ("test_energy_mae_meV_per_atom", "test_energy_rmse_meV_per_atom"):
            for suffix in ("", "_clean"):
                value = hartree_per_atom(run.metrics, name + suffix)
                mlflow.log_metric(name.replace("meV_per_atom", "Ha_per_atom") + suffix, value)
        for epoch, value in enumerate(run.curve, start=1):
            if math.isfinite(value):
                mlflow.log_metric(MONITORED_METRIC, value, step=epoch)
        if run.curve:
            mlflow.log_metric("best_epoch", run.best_epoch)


def log_finished(run: RowRun) -> None:
    logger.info(
        "%s, seed %d: test MAE %.4f Ha/atom (%.2f eV), best epoch %d, %.0f s",
        run.row,
        run.seed,
        hartree_per_atom(run.metrics, "test_energy_mae_meV_per_atom"),
        run.metrics["test_energy_mae_eV"],
        run.best_epoch,
        run.seconds,
    )


def train_cell(
    relative: str, limit: int | None, config: TrainConfig, row: str, seed: int, keep: str
) -> dict[str, Any]:
    """A cell's work: train (row, seed) on the file ``relative``; the run as a dict.

    The training writes into a temporary folder unless ``config.output_dir``
    is set; ``keep`` (a path, or empty) is where its best checkpoint is copied
    for the cells that start from it, since a temporary folder goes with the process.
    A ``--jobs N`` worker is a spawned process, which inherits neither the
    parent's logging levels nor its warning filters: the cell quiets its own.
    """
    quiet()
    data = read_set(relative, limit)
    with tempfile.TemporaryDirectory(prefix="pesweep-cell-") as scratch:
        if not config.output_dir:
            config = dataclasses.replace(config, output_dir=scratch)
        run = row_run(row, seed, train_on(data, config))
        if keep:
            Path(keep).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run.checkpoint, keep)
            run.checkpoint = keep
    log_finished(run)
    return dataclasses.asdict(run)


# TrainConfig fields that do not decide a cell's result: where it writes, how it shows
# progress, where it runs, the path of the checkpoint it starts from (its cell is named
# instead) and what the lineage calls that checkpoint
NOT_SETTINGS = ("output_dir", "progress_bar", "accelerator", "init_from", "init_from_label")
# TrainConfig fields added after cells were committed: left out of a cell's settings while at
# these defaults, so that the committed cells still match; any other value is recorded
LATER_SETTINGS = {"keep_flagged_in_test": False, "loss": "rmse", "ranking_alpha": None}


def training_cell(
    key: str,
    relative: str,
    budget: Budget,
    config: TrainConfig,
    row: str,
    seed: int,
    source: str = "",
    keep: str = "",
) -> Cell:
    """The cell of one training: its settings are the data, the budget's limit and the config.

    ``source`` names the cell whose checkpoint ``config.init_from`` is (the
    path of a checkpoint changes from session to session; its cell does not).
    """
    settings = {
        "data": relative,
        "limit": budget.limit,
        "row": row,
        "seed": seed,
        "init_from_cell": source,
        "config": {
            name: value
            for name, value in config.to_dict().items()
            if name not in NOT_SETTINGS
            and not (name in LATER_SETTINGS and value == LATER_SETTINGS[name])
        },
    }
    arguments = (relative, budget.limit, config, row, seed, keep)
    return Cell(key, settings, train_cell, arguments, outputs=(keep,) if keep else ())


@contextmanager
def cell_store(args: Any) -> Iterator[CellStore]:
    """``--cells-dir`` (finished cells kept, a rerun resumes), else a temporary store."""
    if args.cells_dir:
        yield CellStore(args.cells_dir)
        return
    with tempfile.TemporaryDirectory(prefix="pesweep-cells-") as folder:
        yield CellStore(folder)


def run_training_cells(
    store: CellStore, cells: list[Cell], jobs: int, only_finished: bool = False
) -> list[RowRun]:
    """The runs of ``cells`` in their order: stored ones read back, the others trained
    (``only_finished``: left out, nothing is trained)."""
    results = finished_cells(store, cells) if only_finished else run_cells(store, cells, jobs)
    return [RowRun(**results[cell.key]) for cell in cells if cell.key in results]


def publish(
    table: Table, target: AtomsData, args: Any, experiment: str, params: dict[str, Any]
) -> None:
    """The table in MLflow and on screen: one parent run with a nested run per (row, seed).

    The parent run (experiment ``experiment``) holds the table (``<experiment>.md``,
    ``.json``) and the learning curves; the table is printed and written to ``--json``.
    Opened only once every row has trained, so no run is left RUNNING by a killed benchmark.
    """
    import mlflow

    table.runs = {
        "constant predictor": [
            RowRun("constant predictor", seed, constant_predictor(target, seed), [], 0.0)
            for seed in table.budget.seeds
        ],
        **{name: runs for name, runs in table.runs.items() if name != "constant predictor"},
    }
    if args.table_only:
        table.notes.append("Only the cells finished so far (--table-only): seeds may be missing.")
        logger.info("\n%s", table.markdown())
        if args.json:
            Path(args.json).write_text(json.dumps(table.as_dict(), indent=1))
        return
    mlflow.set_tracking_uri(tracking_store(args.tracking_uri).driver_url)
    mlflow.set_experiment(experiment)
    mlflow.set_experiment_tag("mlflow.experimentKind", "custom_model_development")
    with mlflow.start_run(run_name=experiment):
        mlflow.log_params({**params, "seeds": len(table.budget.seeds)})
        for name, runs in table.runs.items():
            for run in runs:
                if run.curve:  # a trained row
                    log_row(run, table.params.get((name, run.seed), params))
        mlflow.log_text(table.markdown(), f"{experiment}.md")
        mlflow.log_text(json.dumps(table.as_dict(), indent=1), f"{experiment}.json")
        mlflow.log_figure(table.learning_curves(), "learning_curves.html")
    logger.info("\n%s", table.markdown())
    if args.json:
        Path(args.json).write_text(json.dumps(table.as_dict(), indent=1))
        logger.info("table written to %s", args.json)


def add_common_options(parser: Any, default_epochs: int, default_source_epochs: int) -> None:
    parser.add_argument(
        "--epochs", type=int, default=default_epochs, help="epochs of each SeB20 training"
    )
    parser.add_argument(
        "--source-epochs",
        type=int,
        default=default_source_epochs,
        help="epochs of each source stage",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (split and training)")
    parser.add_argument("--limit", type=int, help="only the first N structures of each file")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument(
        "--full",
        action="store_true",
        help="the published budget: 100 epochs everywhere, three seeds (a GPU)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="60 structures per file, 1 epoch, 1 seed (the test suite)",
    )
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (every training)")
    parser.add_argument(
        "--tracking-uri",
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    )
    parser.add_argument(
        "--runs-dir", help="keep the checkpoints here (default: a temporary folder)"
    )
    parser.add_argument("--json", help="also write the table as JSON to this file")
    parser.add_argument(
        "--cells-dir",
        help="record each finished (row, seed) here; a rerun skips it and refuses other "
        "settings (default: a temporary folder, nothing resumes)",
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="print the table of the cells already finished in --cells-dir; train nothing, "
        "log nothing to MLflow",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="independent cells in this many processes of one torch thread each (default: 1)",
    )


def add_reference_cells_option(parser: Any, what: str) -> None:
    """``--reference-cells``: the ablation's cells folder, whose trainings this script shares."""
    parser.add_argument(
        "--reference-cells",
        help=f"cells folder of the ablation (benchmarks/ablation_seb.py --cells-dir) at the same "
        f"budget: {what}, read from there (trained there if missing) instead of trained again",
    )


def budget_from(args: Any, parser: Any) -> Budget:
    if args.full and args.smoke:
        parser.error("--full and --smoke exclude each other; choose one")
    if args.full:
        args.epochs, args.source_epochs, args.seeds = PUBLISHED_EPOCHS, PUBLISHED_EPOCHS, 3
    if args.smoke:
        args.epochs, args.source_epochs, args.seeds, args.limit = 1, 1, 1, 60
    for name in ("epochs", "source_epochs", "seeds"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
            )
    if args.table_only and not args.cells_dir:
        parser.error("--table-only reads the finished cells of --cells-dir; give it")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.limit is not None and args.limit < 20:
        parser.error(f"--limit must be at least 20 structures, got {args.limit}")
    try:  # before anything is made: a bad accelerator, or a --runs-dir with an earlier run
        check_accelerator(args.accelerator)
        if args.runs_dir:
            claim_output_dir(args.runs_dir, chosen_by_user=True)
    except ConfigError as error:
        parser.error(str(error))
    except OutputError:
        parser.error(
            f"--runs-dir {args.runs_dir} already holds files (an earlier run?); choose an empty folder"
        )
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    return Budget(
        args.epochs,
        args.source_epochs,
        list(range(args.seeds)),
        args.limit,
        args.threads,
        args.smoke,
        args.accelerator,
    )
