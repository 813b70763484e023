"""The SchNet_IIA ablation on SeB20: SchNet, +IIA, +SMU, +IIA+SMU, and with continuous transfer.

Rows (the study's ablation table): SchNet; +IIA (interatomic-interaction
attention); +SMU (the smooth maximum unit); +IIA+SMU; +IIA+TL and +SMU+TL
and +IIA+SMU+TL, which start from the continuous chain SeB16 -> SeB17 ->
SeB18 -> SeB19 (each stage fine-tuned from the one before, all weights
trained) of the same architecture. Every row trains the same SchNet
(128 features, 6 interactions, 40 Gaussians, cutoff 6 A) with the same epochs
on SeB20 with an 8:1:1 split per seed; the chains are trained once (seed 0)
and every seed fine-tunes from them. Also printed: a constant predictor (the
median training energy per atom) and the published MAE/RMSE, in Hartree per
atom, eV per structure and meV/atom, full test set and audit-clean part,
and per row the epochs to the best validation MAE (the paper: SMU converges
about 23% faster). Each (row, seed) is an MLflow run under one parent run
(experiment ``seb-ablation``) that holds the table and the learning curves.

The default is a reduced CPU budget (``--seeds 2 --threads 1``: 14 minutes on one core of
a 2-core machine, 2026-12-04; five seeds take 31); ``--full`` is the published
one (100 epochs, three seeds; on 2 CPU cores, with ``--jobs 2 --cells-dir DIR``, about
5-22 minutes per training, resumable across sessions):

    python benchmarks/ablation_seb.py [--epochs 8] [--source-epochs 4] [--seeds 3]
                                      [--full | --smoke] [--threads 2] [--tracking-uri URI]
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import seb_study as study
except ImportError:  # imported as benchmarks.ablation_seb
    from benchmarks import seb_study as study

logger = logging.getLogger("ablation_seb")

# row -> (attention, activation, transfer)
ROWS = {
    "SchNet": (False, "shifted_softplus", False),
    "+IIA": (True, "shifted_softplus", False),
    "+SMU": (False, "smu", False),
    "+IIA+SMU": (True, "smu", False),
    "+IIA+TL": (True, "shifted_softplus", True),
    "+SMU+TL": (False, "smu", True),
    "+IIA+SMU+TL (SchNet_IIA)": (True, "smu", True),
}
PUBLISHED = {  # Ha/atom, MAE / RMSE (the study's ablation table)
    "SchNet": (0.118, 0.121),
    "+IIA": (0.103, 0.103),
    "+SMU": (0.114, 0.116),
    "+IIA+SMU": (0.098, 0.099),
    "+IIA+TL": (0.093, 0.094),
    "+SMU+TL": (0.104, 0.105),
    "+IIA+SMU+TL (SchNet_IIA)": (0.090, 0.090),
}


@dataclass(frozen=True)
class Variant:
    """Rows trained with other config values (``changes``): their cells are
    ``<key>/row-N/seed-S`` and their table rows ``<row>, <name>``."""

    key: str
    name: str
    changes: dict[str, Any] = field(default_factory=dict)

    def row(self, row: str) -> str:
        """The table row of ``row`` trained as this variant."""
        return f"{row}, {self.name}"


TRANSFERRED = sorted({(a, f) for a, f, transfer in ROWS.values() if transfer})


def chain_cells(
    architectures: list[tuple[bool, str]],
    budget: study.Budget,
    store: study.CellStore,
    runs_dir: Path | None,
    jobs: int,
    only_finished: bool = False,
) -> dict[tuple[bool, str], tuple[str, str]]:
    """The continuous chains SeB16 -> ... -> SeB19 (seed 0), one per (attention, activation).

    Every stage is a cell fine-tuned from the stage before; the stages of the
    chains run side by side. Returns, per architecture, the last stage's
    checkpoint (kept in the cells folder) and its cell's key.
    """
    previous = {arch: ("", "") for arch in architectures}
    for index, relative in enumerate(study.CHAIN):
        cells = []
        for number, arch in enumerate(architectures):
            key = f"chain-{'iia' if arch[0] else 'no-iia'}-{arch[1]}/stage-{index}"
            model = study.model_config(*arch, budget.smoke)
            folder = None if runs_dir is None else runs_dir / f"chain-{number}" / f"stage-{index}"
            config = budget.training_config(
                model, budget.source_epochs, 0, folder, init_from=previous[arch][0]
            )
            keep = store.path(key).with_suffix(".ckpt")
            row = f"chain {relative}"
            cells.append(
                study.training_cell(
                    key, relative, budget, config, row, 0, previous[arch][1], str(keep)
                )
            )
        runs = study.run_training_cells(store, cells, jobs, only_finished)
        if len(runs) < len(cells):  # --table-only: this stage has not finished
            return {}
        for arch, cell, run in zip(architectures, cells, runs, strict=True):
            logger.info(
                "  chain stage %s (%s): test MAE %.4g eV, %.0f s",
                relative,
                cell.key,
                run.metrics["test_energy_mae_eV"],
                run.seconds,
            )
            previous[arch] = (str(store.path(cell.key).with_suffix(".ckpt")), cell.key)
    return previous


def train_rows(
    table: study.Table,
    rows: list[str],
    chains: dict[tuple[bool, str], tuple[str, str]],
    store: study.CellStore,
    runs_dir: Path | None,
    jobs: int,
    params: dict,
    only_finished: bool = False,
    variant: Variant | None = None,
) -> None:
    """Train ``rows`` for every seed as cells (seed by seed: a stopped run leaves whole seeds).

    ``variant`` trains them with its config changes, as cells and table rows of their own.
    """
    budget = table.budget
    cells = []
    for seed in budget.seeds:
        for row in rows:
            attention, activation, transfer = ROWS[row]
            model = study.model_config(attention, activation, budget.smoke)
            if transfer and (attention, activation) not in chains:
                continue  # --table-only before its chain has finished
            checkpoint, source = chains[(attention, activation)] if transfer else ("", "")
            index = list(ROWS).index(row)
            key, name, changes, run = f"row-{index}/seed-{seed}", row, {}, f"{index}-seed-{seed}"
            if variant is not None:
                key, name, changes = f"{variant.key}/{key}", variant.row(row), variant.changes
                run = f"{variant.key}-{run}"
            folder = None if runs_dir is None else runs_dir / run
            config = budget.training_config(
                model, budget.epochs, seed, folder, init_from=checkpoint, **changes
            )
            cells.append(study.training_cell(key, study.TARGET, budget, config, name, seed, source))
            table.params[(name, seed)] = {**params, **model, "transfer": transfer, **changes}
    for run in study.run_training_cells(store, cells, jobs, only_finished):
        table.add(run)


def main(argv: list[str] | None = None) -> study.Table:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    study.add_common_options(parser, default_epochs=8, default_source_epochs=4)
    args = parser.parse_args(argv)
    budget = study.budget_from(args, parser)
    study.quiet()
    target = study.read_set(study.TARGET, budget.limit)
    table = study.Table("SchNet_IIA ablation on SeB20", budget, PUBLISHED)
    table.notes.append(
        "Ha/atom is the unit of the published numbers; eV/structure and meV/atom are pesweep's. "
        "The audit-clean part leaves out the test labels beyond the physical bound."
    )
    logger.info("%s", budget.describe())
    params = {"epochs": budget.epochs, "source_epochs": budget.source_epochs, "limit": budget.limit}
    runs_dir = Path(args.runs_dir) if args.runs_dir else None
    with study.cell_store(args) as store:
        plain = [row for row, (_, _, transfer) in ROWS.items() if not transfer]
        only = args.table_only
        train_rows(table, plain, {}, store, runs_dir, args.jobs, params, only)
        logger.info("pretraining the chains SeB16 -> SeB19 of the TL rows")
        chains = chain_cells(TRANSFERRED, budget, store, runs_dir, args.jobs, only)
        transferred = [row for row in ROWS if row not in plain]
        train_rows(table, transferred, chains, store, runs_dir, args.jobs, params, only)
    table.runs = {
        row: sorted(table.runs[row], key=lambda r: r.seed) for row in ROWS if row in table.runs
    }
    study.publish(table, target, args, "seb-ablation", params)
    return table


if __name__ == "__main__":
    main()
