"""The SchNet_IIA source-task table: transfer to SeB20 from B20, B21, SeB19, SeB19-O, or from nothing.

Each source is trained once (seed 0) with SchNet_IIA's architecture (the
SchNet of docs/how-to/training.md with interatomic-interaction attention and the smooth
maximum unit), then every seed fine-tunes it on SeB20 (8:1:1 split per seed,
all weights trained) with the same epochs as the row trained from nothing.
The composition of every file comes from its ``z`` (the file names of the
study's data are not always right: the loader says so, and the table notes
each source's real formula). Printed like the ablation: Hartree per atom
(the published unit), eV per structure and meV/atom, full test set and
audit-clean part, beside a constant predictor and the published MAE/RMSE;
each (row, seed) is an MLflow run under one parent run (experiment
``seb-source-tasks``) that holds the table and the learning curves.

Every source and every (row, seed) is a cell (``benchmarks/cells.py``): with
``--cells-dir`` a finished one is recorded and a rerun skips it, so the
published budget spans sessions; ``--jobs N`` trains independent cells in N
processes of one thread; ``--table-only`` prints what has finished. The row
from nothing is the same training as the ablation's +IIA+SMU row (the same
architecture, epochs, split and seed): with ``--reference-cells`` set to the
ablation's ``--cells-dir`` at the same budget it is read from there instead of
trained again.

The default is a reduced CPU budget (``--seeds 2 --threads 1``: 12 minutes on one core,
2026-12-04; five seeds take 29); ``--full`` is the published one (100 epochs, three seeds):

    python benchmarks/source_tasks_seb.py [--epochs 8] [--source-epochs 4] [--seeds 3]
                                          [--full | --smoke] [--threads 2] [--tracking-uri URI]
                                          [--cells-dir DIR] [--jobs N] [--table-only]
                                          [--reference-cells DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from pathlib import Path

from ase.formula import Formula

try:
    import ablation_seb
    import seb_study as study
except ImportError:  # imported as benchmarks.source_tasks_seb
    from benchmarks import ablation_seb
    from benchmarks import seb_study as study

logger = logging.getLogger("source_tasks_seb")

SOURCES = {  # row -> source file (None: trained from nothing)
    "from nothing": None,
    "B20": "Bn/B=20.npz",
    "B21": "Bn/B=21.npz",
    "SeB19": "SeBn/B=19.npz",
    "SeB19-O": "SeBn-O/B=19.npz",
}
SCRATCH_ROW = "+IIA+SMU"  # the ablation's row that trains SchNet_IIA's architecture from nothing
PUBLISHED = {  # Ha/atom, MAE / RMSE (the study's Table 2; it gives no RMSE for "from nothing")
    "from nothing": (0.118, None),
    "B20": (0.119, 0.121),
    "B21": (0.118, 0.119),
    "SeB19": (0.105, 0.105),
    "SeB19-O": (0.110, 0.111),
}


def named_formula(relative: str) -> str:
    """The formula a file's path claims: ``SeBn/B=19.npz`` -> SeB19, ``Bn/B=21.npz`` -> B21."""
    folder, count = Path(relative).parent.name, re.search(r"=(\d+)", relative)
    assert count is not None
    return folder.split("-")[0].replace("n", count.group(1))


def main(argv: list[str] | None = None) -> study.Table:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    study.add_common_options(parser, default_epochs=8, default_source_epochs=4)
    study.add_reference_cells_option(parser, "its +IIA+SMU row is the row from nothing")
    args = parser.parse_args(argv)
    budget = study.budget_from(args, parser)
    study.quiet()
    target = study.read_set(study.TARGET, budget.limit)
    table = study.Table("Source tasks for SeB20 (SchNet_IIA architecture)", budget, PUBLISHED)
    model = study.model_config(True, "smu", budget.smoke)
    logger.info("%s", budget.describe())
    params = {"epochs": budget.epochs, "source_epochs": budget.source_epochs, "limit": budget.limit}
    runs_dir = Path(args.runs_dir) if args.runs_dir else None
    with study.cell_store(args) as store:
        sources = source_cells(table, model, budget, store, runs_dir, args.jobs, args.table_only)
        cells, from_nothing = [], []
        for seed in budget.seeds:  # seed by seed: a stopped run leaves whole seeds
            for index, (row, relative) in enumerate(SOURCES.items()):
                if relative is not None and row not in sources:
                    continue  # --table-only before its source has finished
                checkpoint, source = sources.get(row, ("", ""))
                folder = None if runs_dir is None else runs_dir / f"{index}-seed-{seed}"
                config = budget.training_config(
                    model, budget.epochs, seed, folder, init_from=checkpoint
                )
                table.params[(row, seed)] = {**params, **model, "source": relative or "none"}
                if relative is None and args.reference_cells:  # the ablation's own cell
                    key = f"row-{list(ablation_seb.ROWS).index(SCRATCH_ROW)}/seed-{seed}"
                    cell = study.training_cell(key, study.TARGET, budget, config, SCRATCH_ROW, seed)
                    from_nothing.append(cell)
                    continue
                key = f"row-{index}/seed-{seed}"
                cells.append(
                    study.training_cell(key, study.TARGET, budget, config, row, seed, source)
                )
        references = study.CellStore(args.reference_cells) if args.reference_cells else store
        for run in study.run_training_cells(references, from_nothing, args.jobs, args.table_only):
            table.add(dataclasses.replace(run, row="from nothing"))
        for run in study.run_training_cells(store, cells, args.jobs, args.table_only):
            table.add(run)
    table.runs = {
        row: sorted(table.runs[row], key=lambda r: r.seed) for row in SOURCES if row in table.runs
    }
    study.publish(table, target, args, "seb-source-tasks", params)
    return table


def source_cells(
    table: study.Table,
    model: dict,
    budget: study.Budget,
    store: study.CellStore,
    runs_dir: Path | None,
    jobs: int,
    only_finished: bool = False,
) -> dict[str, tuple[str, str]]:
    """Train every source file once (seed 0) as a cell; per row, its checkpoint and cell key.

    Notes each file's real formula (from its ``z``) beside the one its name claims.
    """
    cells = []
    for row, relative in SOURCES.items():
        if relative is None:
            continue
        data = study.read_set(relative, budget.limit)
        formula, claimed = data.formula(0), named_formula(relative)
        disagree = Formula(formula).count() != Formula(claimed).count()
        table.notes.append(
            f"{row}: {relative} holds {formula} ({len(data)} structures"
            + (f"; its name says {claimed})" if disagree else ")")
        )
        folder = None if runs_dir is None else runs_dir / f"source-{row}"
        config = budget.training_config(model, budget.source_epochs, 0, folder)
        key = f"source-{row}"
        keep = str(store.path(key).with_suffix(".ckpt"))
        cells.append(study.training_cell(key, relative, budget, config, row, 0, "", keep))
    runs = {run.row: run for run in study.run_training_cells(store, cells, jobs, only_finished)}
    for row, run in runs.items():
        logger.info(
            "source %s: test MAE %.4g eV, %.0f s",
            row,
            run.metrics["test_energy_mae_eV"],
            run.seconds,
        )
    return {
        cell.settings["row"]: (str(store.path(cell.key).with_suffix(".ckpt")), cell.key)
        for cell in cells
        if cell.settings["row"] in runs
    }


if __name__ == "__main__":
    main()
