"""The cells of ``transfer_md.py``: what one pretraining, fitting or MD check does.

Module-level functions of plain arguments, so that ``benchmarks/cells.py`` can
run them in worker processes; each returns its result as a JSON-able dict.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from pathlib import Path

import ase.io
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpo.workflows.finetune import finetune  # noqa: E402
from hpo.workflows.md_gate import run_md_check  # noqa: E402
from lightning_modules.data import AtomsData, load_data  # noqa: E402
from lightning_modules.data.subsets import (  # noqa: E402
    random_subset,
    select_by_elements,
    write_extxyz,
)
from lightning_modules.md import (  # noqa: E402
    MDSpec,
    first_peak,
    pair_distributions,
    rdf_distance,
)
from lightning_modules.md.rdf import pair_label  # noqa: E402
from lightning_modules.md.replicas import run_replicas  # noqa: E402
from lightning_modules.md.report import StabilityReport  # noqa: E402
from lightning_modules.training.calculator import PesweepCalculator  # noqa: E402
from lightning_modules.training.config import make_config  # noqa: E402
from lightning_modules.training.run import train  # noqa: E402

SUBSETS = ("random", "cu-or-au", "cu-and-au")
# the study's names of the pairs, and the rdf module's (its symbols in atomic-number order)
PEAK_PAIRS = {"Cu-O": pair_label(29, 8), "Au-O": pair_label(79, 8)}
ARCHITECTURES = {
    "aenet": dict(
        model="aenet",
        model_config=dict(
            species=["H", "C", "N", "O", "Ni", "Cu", "Ag", "Pt", "Au"],
            radial_order=10,
            radial_cutoff=6.0,
            angular_order=4,
            angular_cutoff=4.0,
            hidden_layers=2,
            hidden_width=15,
            activation="tanh",
        ),
        lr=3e-3,
        optimizer="adamw",
        weight_decay=1e-5,
    ),
    "schnet": dict(
        model="schnet",
        model_config=dict(n_atom_basis=32, n_interactions=3, n_rbf=20, cutoff=5.0),
        lr=1e-3,
    ),
}


def subset_indices(data: AtomsData, subset: str, seed: int) -> np.ndarray:
    """The structures of one pretraining subset (``random``: as many as ``cu-or-au``)."""
    either = select_by_elements(data, ("Cu", "Au"), "any")
    if subset == "cu-or-au":
        return either
    if subset == "cu-and-au":
        return select_by_elements(data, ("Cu", "Au"), "all")
    return random_subset(data, len(either), seed)


def training_values(architecture: str, epochs: int, seed: int) -> dict:
    return {
        **ARCHITECTURES[architecture],
        "alpha": 0.5,
        "batch_size": 32,
        "max_epochs": epochs,
        "seed": seed,
    }


def pretrain(
    architecture: str, pretrain_file: str, subset: str, seed: int, epochs: int, keep: str
) -> dict:
    """A cell's work: pretrain on one subset; the checkpoint is copied to ``keep``."""
    data = load_data(pretrain_file)
    indices = subset_indices(data, subset, seed)
    with tempfile.TemporaryDirectory(prefix="transfer-md-") as work:
        path = write_extxyz(data.subset(indices), Path(work) / "subset.extxyz")
        values = training_values(architecture, epochs, seed)
        values.update(data=[str(path)], progress_bar=False, output_dir=str(Path(work) / "run"))
        result = train(make_config(values), log_audit=False)
        kept(result.checkpoint_path, keep)
    return {"structures": len(indices), "metrics": result.test_metrics}


def fit_target(
    architecture: str, target_file: str, start: str, seed: int, epochs: int, keep: str
) -> dict:
    """A cell's work: train on the target from scratch (``start`` empty) or fine-tune ``start``."""
    with tempfile.TemporaryDirectory(prefix="transfer-md-") as work:
        if start:
            tuned = finetune(
                start,
                [target_file],
                "",
                max_epochs=epochs,
                seed=seed,
                output_dir=str(Path(work) / "run"),
                track=False,
            )
            result = tuned.result
        else:
            values = training_values(architecture, epochs, seed)
            values.update(
                data=[target_file], progress_bar=False, output_dir=str(Path(work) / "run")
            )
            result = train(make_config(values), log_audit=False)
        kept(result.checkpoint_path, keep)
    return {"metrics": result.test_metrics}


def kept(checkpoint: str | Path, keep: str) -> None:
    Path(keep).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint, keep)


def md_run(checkpoint: str, spec: dict, reference: str) -> dict:
    """A cell's work: pesweep's MD check of one model; the stable time and the first peaks."""
    with tempfile.TemporaryDirectory(prefix="transfer-md-") as work:
        check = run_md_check(
            checkpoint,
            MDSpec.from_dict(spec),
            Path(work),
            log_to_mlflow=False,
            reference=reference or None,
        )
    return outcome(check.report, check.report.rdf(), check.rdf_distance.get("mean", math.nan))


def long_md_run(checkpoint: str, spec: dict, seeds: list[int], reference: str) -> dict:
    """A cell's work: the long check of one model, its velocity seeds run at once."""
    calculator = PesweepCalculator.from_checkpoint(checkpoint, dtype="float64")
    structure = ase.io.read(spec["structure"])
    reports = run_replicas(structure, calculator.energies_forces, MDSpec.from_dict(spec), seeds)
    target = reference_distributions(Path(reference)) if reference else {}
    runs = []
    for report in reports:
        distributions = report.rdf()  # over every frame of the run: computed once
        distance = rdf_distance(distributions, target).get("mean", math.nan)
        runs.append(outcome(report, distributions, distance))
    return {"runs": runs}


def outcome(report: StabilityReport, distributions: dict, distance: float) -> dict:
    """A check's record: ``distributions`` its pair distributions, ``distance`` theirs to
    the reference's."""
    return {
        "stable_ps": report.stable_ps,
        "passed": report.passed,
        "failure": report.reason,
        "steps_per_second": report.steps_per_second,
        "rdf_distance": distance,
        "first_peaks": first_peaks(distributions),
    }


def first_peaks(distributions: dict) -> dict[str, float]:
    return {
        name: first_peak(*distributions[label])
        for name, label in PEAK_PAIRS.items()
        if label in distributions
    }


def reference_distributions(reference: Path) -> dict:
    """The pair distributions of GFN1-xTB's own trajectory of the cluster (empty without one)."""
    if not reference.exists():
        return {}
    frames = ase.io.read(reference, ":")
    return pair_distributions(frames[0].numbers, (frame.positions for frame in frames))
