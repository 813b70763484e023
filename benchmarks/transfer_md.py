"""Scratch against transfer, judged by MD: the ænet study's comparison as resumable cells (#36).

The study's question on GFN1-xTB data made here (``benchmarks/make_cuau_water.py``):
does a model pretrained on a broad set and fine-tuned on the CuAu + water
frames run stable MD where the same architecture trained from scratch, at
the same test error, does not? As the study (SI, S1-S3):

* three pretraining subsets of the broad set, as its three OC20 subsets: the
  structures that contain Cu or Au (``cu-or-au``), those that contain both
  (``cu-and-au``), and a random subset as large as the first (``random``);
* every subset pretrained with ``--pretrain-seeds``, each pretraining
  fine-tuned with ``--seeds``; scratch trained with the same ``--seeds`` (the
  seed decides the split, so scratch and transfer of one seed see the same
  test frames);
* pesweep's MD check of the relaxed Cu7Au6 + 6 H2O cluster (300 K, Bussi,
  0.5 fs) for ``--md-ps`` with every model, then ``--long-md-ps`` with
  ``--velocity-seeds`` for the best scratch and the best transfer model of
  each architecture (the longest stable, then the lowest test energy RMSE),
  the seeds of one model run at once (``lightning_modules.md.replicas``).

Each training and each MD run is a cell (``benchmarks/cells.py``): recorded
in ``--cells-dir`` when it finishes, skipped by a rerun, refused when its
settings changed; ``--jobs N`` runs independent cells in N processes.

    python benchmarks/make_cuau_water.py --out cuau_water
    python benchmarks/transfer_md.py --data cuau_water --cells-dir transfer-cells --jobs 2
    python benchmarks/transfer_md.py --data cuau_water --cells-dir transfer-cells --table-only
    python benchmarks/transfer_md.py --data cuau_water --smoke   # 2 epochs, 0.01 ps MD
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    import transfer_cells as work
    from cells import Cell, CellStore, finished_cells, run_cells
    from transfer_table import TransferTable
except ImportError:  # imported as benchmarks.transfer_md
    from benchmarks import transfer_cells as work
    from benchmarks.cells import Cell, CellStore, finished_cells, run_cells
    from benchmarks.transfer_table import TransferTable
from lightning_modules.file_digest import file_sha256  # noqa: E402
from lightning_modules.md import MDSpec  # noqa: E402

logger = logging.getLogger("transfer_md")

SMOKE = dict(  # --smoke: the test suite's run
    seeds=[0],
    pretrain_seeds=[0],
    velocity_seeds=[0],
    pretrain_epochs=2,
    epochs=2,
    md_ps=0.01,
    long_md_ps=0.01,
    nve_ps=0.0,
)


class Plan:
    """The cells of one run, built from the options and the data's digests."""

    def __init__(self, args: argparse.Namespace, store: CellStore) -> None:
        self.args, self.store = args, store
        data = Path(args.data)
        self.pretrain_file, self.target_file = data / "pretrain.extxyz", data / "target.extxyz"
        self.structure, self.reference = data / "cu7au6_6h2o.xyz", data / "reference_6h2o.extxyz"
        self.digests = {
            "pretrain": file_sha256(self.pretrain_file),
            "target": file_sha256(self.target_file),
        }

    def checkpoint(self, key: str) -> str:
        return str(self.store.path(key).with_suffix(".ckpt"))

    def pretraining(self) -> list[Cell]:
        cells = []
        for architecture in self.args.architectures:
            for subset in self.args.subsets:
                for seed in self.args.pretrain_seeds:
                    key = f"pretrain/{architecture}/{subset}/seed-{seed}"
                    settings = {
                        "architecture": work.ARCHITECTURES[architecture],
                        "subset": subset,
                        "seed": seed,
                        "epochs": self.args.pretrain_epochs,
                        "pretrain": self.digests["pretrain"],
                    }
                    arguments = (
                        architecture,
                        str(self.pretrain_file),
                        subset,
                        seed,
                        self.args.pretrain_epochs,
                        self.checkpoint(key),
                    )
                    cells.append(
                        Cell(key, settings, work.pretrain, arguments, (self.checkpoint(key),))
                    )
        return cells

    def models(self) -> list[tuple[str, str, str]]:
        """(fitting key, architecture, the pretraining cell it starts from or '')."""
        models = []
        for architecture in self.args.architectures:
            for seed in self.args.seeds:
                models.append((f"{architecture}/scratch/seed-{seed}", architecture, ""))
                for subset in self.args.subsets:
                    for pre in self.args.pretrain_seeds:
                        source = f"pretrain/{architecture}/{subset}/seed-{pre}"
                        models.append(
                            (f"{architecture}/{subset}/pre-{pre}/seed-{seed}", architecture, source)
                        )
        return models

    def fitting(self) -> list[Cell]:
        cells = []
        for name, architecture, source in self.models():
            key, seed = f"fit/{name}", int(name.rsplit("seed-", 1)[1])
            settings = {
                "architecture": work.ARCHITECTURES[architecture],
                "seed": seed,
                "epochs": self.args.epochs,
                "target": self.digests["target"],
                "init_from_cell": source,
            }
            start = self.checkpoint(source) if source else ""
            arguments = (architecture, str(self.target_file), start, seed, self.args.epochs)
            keep = self.checkpoint(key)
            cells.append(Cell(key, settings, work.fit_target, (*arguments, keep), (keep,)))
        return cells

    def md_spec(self, md_ps: float, velocity_seed: int = 0) -> tuple[dict, dict]:
        """The spec to run, and as a cell's setting (the structure by its digest)."""
        spec = MDSpec(
            structure=str(self.structure),
            time_ps=md_ps,
            nve_ps=self.args.nve_ps,
            seed=velocity_seed,
        ).to_dict()
        return spec, {**spec, "structure": file_sha256(self.structure)}

    def reference_setting(self) -> tuple[str, str]:
        if not self.reference.exists():
            return "", ""
        return str(self.reference), file_sha256(self.reference)

    def md(self) -> list[Cell]:
        reference, digest = self.reference_setting()
        spec, setting = self.md_spec(self.args.md_ps)
        cells = []
        for name, _, _ in self.models():
            settings = {"model_cell": f"fit/{name}", "spec": setting, "reference": digest}
            arguments = (self.checkpoint(f"fit/{name}"), spec, reference)
            cells.append(Cell(f"md/{name}", settings, work.md_run, arguments))
        return cells

    def long_md(self, table: TransferTable) -> list[Cell]:
        reference, digest = self.reference_setting()
        spec, setting = self.md_spec(self.args.long_md_ps)
        seeds = list(self.args.velocity_seeds)
        cells = []
        for name in table.best_models():
            settings = {
                "model_cell": f"fit/{name}",
                "spec": {**setting, "seed": seeds},
                "reference": digest,
            }
            arguments = (self.checkpoint(f"fit/{name}"), spec, seeds, reference)
            cells.append(Cell(f"md-long/{name}", settings, work.long_md_run, arguments))
        return cells


def stage(store: CellStore, cells: list[Cell], jobs: int, table_only: bool) -> dict[str, dict]:
    return finished_cells(store, cells) if table_only else run_cells(store, cells, jobs)


@contextmanager
def cell_store(folder: str | None) -> Iterator[CellStore]:
    if folder:
        yield CellStore(folder)
        return
    with tempfile.TemporaryDirectory(prefix="transfer-md-cells-") as scratch:
        yield CellStore(scratch)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="make_cuau_water.py's --out folder")
    parser.add_argument(
        "--architectures",
        nargs="+",
        choices=list(work.ARCHITECTURES),
        default=list(work.ARCHITECTURES),
    )
    parser.add_argument(
        "--subsets",
        nargs="+",
        choices=work.SUBSETS,
        default=list(work.SUBSETS),
        help="pretraining subsets",
    )
    parser.add_argument("--pretrain-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="fine-tuning and scratch seeds"
    )
    parser.add_argument("--pretrain-epochs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=100, help="fine-tuning and scratch epochs")
    parser.add_argument("--md-ps", type=float, default=50.0, help="NVT ps of every model's check")
    parser.add_argument(
        "--long-md-ps", type=float, default=250.0, help="NVT ps of the best models' checks"
    )
    parser.add_argument(
        "--velocity-seeds", type=int, nargs="+", default=[0, 1, 2], help="of the long checks"
    )
    parser.add_argument(
        "--nve-ps", type=float, default=MDSpec().nve_ps, help="NVE ps after each NVT"
    )
    parser.add_argument(
        "--cells-dir",
        help="record each finished cell here; a rerun skips it (default: a temporary folder)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="cells at once, one torch thread each")
    parser.add_argument("--threads", type=int, default=1, help="torch threads with --jobs 1")
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="print the table of the finished cells; run nothing",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="2 epochs, one seed of each, 0.01 ps MD (each can still be set by its option)",
    )
    if parser.parse_known_args(argv)[0].smoke:  # its values are defaults: a flag still wins
        parser.set_defaults(**SMOKE)
    args = parser.parse_args(argv)
    if min(args.seeds + args.pretrain_seeds + args.velocity_seeds) < 0:
        parser.error("seeds are 0 or more")
    if min(args.epochs, args.pretrain_epochs) < 1 or min(args.md_ps, args.long_md_ps) <= 0:
        parser.error("--epochs, --pretrain-epochs, --md-ps and --long-md-ps must be positive")
    missing = [
        name
        for name in ("pretrain.extxyz", "target.extxyz", "cu7au6_6h2o.xyz")
        if not (Path(args.data) / name).exists()
    ]
    if missing:
        parser.error(
            f"{args.data} lacks {', '.join(missing)}; make it with "
            f"python benchmarks/make_cuau_water.py --out {args.data}"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("lightning", "lightning.pytorch", "hpo", "lightning_modules"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.perf_counter()
    with cell_store(args.cells_dir) as store:
        plan = Plan(args, store)
        table = TransferTable(args, work.first_peaks(work.reference_distributions(plan.reference)))
        table.pretrained = stage(store, plan.pretraining(), args.jobs, args.table_only)
        table.fitted = stage(store, plan.fitting(), args.jobs, args.table_only)
        table.md = stage(store, plan.md(), args.jobs, args.table_only)
        table.long_md = stage(store, plan.long_md(table), args.jobs, args.table_only)
    minutes = (time.perf_counter() - started) / 60
    print(table.header(minutes))
    for line in table.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
