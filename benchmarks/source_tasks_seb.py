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

The default is a reduced CPU budget (``--seeds 2 --threads 1``: 12 minutes on one core,
2026-12-04; five seeds take 29);
``--full`` is the published one (100 epochs, three seeds; for a GPU):

    python benchmarks/source_tasks_seb.py [--epochs 8] [--source-epochs 4] [--seeds 3]
                                          [--full | --smoke] [--threads 2] [--tracking-uri URI]
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from ase.formula import Formula

try:
    import seb_study as study
except ImportError:  # imported as benchmarks.source_tasks_seb
    from benchmarks import seb_study as study

logger = logging.getLogger("source_tasks_seb")

SOURCES = {  # row -> source file (None: trained from nothing)
    "from nothing": None,
    "B20": "Bn/B=20.npz",
    "B21": "Bn/B=21.npz",
    "SeB19": "SeBn/B=19.npz",
    "SeB19-O": "SeBn-O/B=19.npz",
}
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
    args = parser.parse_args(argv)
    if args.cells_dir or args.table_only or args.jobs != 1:  # not yet: say so, resume nothing
        parser.error(
            "--cells-dir, --jobs and --table-only are the ablation's so far; this script "
            "trains every row in one run"
        )
    budget = study.budget_from(args, parser)
    study.quiet()
    target = study.read_set(study.TARGET, budget.limit)
    table = study.Table("Source tasks for SeB20 (SchNet_IIA architecture)", budget, PUBLISHED)
    model = study.model_config(True, "smu", budget.smoke)
    logger.info("%s", budget.describe())
    params = {"epochs": budget.epochs, "source_epochs": budget.source_epochs, "limit": budget.limit}
    with study.session(table, target, args, "seb-source-tasks", params) as folder:
        for row, relative in SOURCES.items():
            checkpoint = (
                "" if relative is None else pretrain(row, relative, model, budget, folder, table)
            )
            for seed in budget.seeds:
                config = budget.training_config(
                    model,
                    budget.epochs,
                    seed,
                    folder / f"{row}-seed-{seed}",
                    init_from=checkpoint,
                )
                study.train_row(
                    table,
                    row,
                    seed,
                    target,
                    config,
                    {**params, **model, "source": relative or "none"},
                )
    return table


def pretrain(
    row: str, relative: str, model: dict, budget: study.Budget, folder: Path, table: study.Table
) -> str:
    """Train on one source file (seed 0); its best checkpoint. Notes the file's real formula."""
    data = study.read_set(relative, budget.limit)
    formula, claimed = data.formula(0), named_formula(relative)
    disagree = Formula(formula).count() != Formula(claimed).count()
    table.notes.append(
        f"{row}: {relative} holds {formula} ({len(data)} structures"
        + (f"; its name says {claimed})" if disagree else ")")
    )
    config = budget.training_config(model, budget.source_epochs, 0, folder / f"source-{row}")
    result = study.train_on(data, config)
    logger.info(
        "source %s (%s): test MAE %.4g eV after %d epochs, %.0f s",
        row,
        formula,
        result.test_metrics["test_energy_mae_eV"],
        result.epochs,
        result.seconds,
    )
    return result.checkpoint_path


if __name__ == "__main__":
    main()
