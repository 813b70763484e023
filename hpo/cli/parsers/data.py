"""The arguments of ``train``, ``audit``, ``subset``, ``references`` and ``label``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.cli.arguments import (
    add_data_arguments,
    add_element_energies_argument,
    add_energy_unit_argument,
    non_negative_int,
    positive_float,
    positive_int,
)
from lightning_modules.conventions import CALCULATORS, DEFAULT_ENERGY_UNIT, LOSSES

if TYPE_CHECKING:
    pass


USE = (
    "Use them when the training data hold one composition (every structure SeB20, or one "
    "Cu7Au6 cluster with water): such data cannot determine each element's reference, and "
    "the model's energies of other compositions are arbitrary without them. Give the file "
    "to train, sweep or finetune as --element-energies FILE (or element_energies: FILE in "
    "a config). Compute them with the calculator (and settings) that labelled the data."
)


def add_data_commands(sub: Any) -> None:
    """Register train, audit, subset, references and label."""
    train = sub.add_parser("train", help="train one model from a YAML config (and flags)")
    train.add_argument(
        "--config", help="YAML file with TrainConfig keys (see docs/how-to/training.md)"
    )
    add_data_arguments(train, False)
    train.add_argument("--model", help="model name: schnet or aenet (default schnet)")
    train.add_argument(
        "--max-epochs", type=positive_int, help="epochs (default: the config's, else 50)"
    )
    train.add_argument(
        "--batch-size",
        type=positive_int,
        help="structures per batch (default: the config's, else 32)",
    )
    train.add_argument(
        "--lr", type=positive_float, help="learning rate (default: the config's, else 5e-4)"
    )
    train.add_argument(
        "--loss",
        choices=LOSSES,
        help="rmse or mae: the mean absolute error of energies (and forces) as the loss, which "
        "wrong labels pull far less (default: the config's, else rmse)",
    )
    train.add_argument(
        "--seed",
        type=non_negative_int,
        help="seed of the split and the training (default: the config's, else 0)",
    )
    train.add_argument(
        "--output-dir",
        help="where best.ckpt, split.npz and config.yaml go "
        "(refused when it holds files, unless --overwrite; default "
        "pesweep_runs/train, or the next free pesweep_runs/train-N)",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier run in --output-dir",
    )
    train.add_argument(
        "--drop-flagged",
        action="store_true",
        default=None,
        help="exclude the structures beyond the audit's physical bound (the audit-clean "
        "subset is what stays)",
    )
    train.add_argument(
        "--keep-flagged-in-test",
        action="store_true",
        default=None,
        help="with --drop-flagged: train and validate on the audit-clean subset, test on "
        "every structure (the test metrics then cover the whole set and its clean part)",
    )
    train.add_argument(
        "--drop-outliers",
        action="store_true",
        default=None,
        help="also exclude the audit's robust outliers within the bound (kept by default, "
        "their errors reported apart)",
    )
    add_element_energies_argument(train)
    train.add_argument("--accelerator", help="auto (default), cpu or gpu")
    train.add_argument("--no-progress-bar", action="store_true", help="no bar over the epochs")
    train.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI of the training's run (default: $MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db)",
    )
    train.add_argument("--no-tracking", action="store_true", help="log no MLflow run (files only)")
    train.set_defaults(handler="data:run_train")

    audit = sub.add_parser("audit", help="check a data set: validation and implausible labels")
    audit.add_argument("data", nargs="+", metavar="DATA")
    add_energy_unit_argument(audit, default=DEFAULT_ENERGY_UNIT)
    audit.add_argument(
        "--bound",
        type=float,
        default=5.0,
        help="flag structures more than this many eV/atom above the lowest of their composition",
    )
    audit.add_argument(
        "--mad-threshold",
        type=float,
        default=3.5,
        help="modified z-score above which a structure is a robust outlier",
    )
    audit.add_argument("--json", metavar="FILE", help="also write the audit as JSON")
    audit.add_argument("--force", action="store_true", help="replace an existing --json file")
    audit.set_defaults(handler="data:run_audit")

    subset = sub.add_parser("subset", help="write a pretraining subset (by elements or random)")
    add_data_arguments(subset, True)
    subset.add_argument("--elements", help="comma-separated symbols, e.g. Cu,Au")
    subset.add_argument(
        "--mode",
        choices=["any", "all", "only"],
        default="any",
        help="--elements: structures with any of them, all of them, or only them",
    )
    subset.add_argument(
        "--random", type=positive_int, metavar="N", help="N structures drawn at random"
    )
    subset.add_argument(
        "--stratify", choices=["energy"], help="--random: draw evenly over the energy range"
    )
    subset.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the --random draw"
    )
    subset.add_argument(
        "--out",
        required=True,
        help="extxyz file to write (never an input; an existing file only with --force)",
    )
    subset.add_argument("--force", action="store_true", help="replace an existing --out file")
    subset.set_defaults(handler="data:run_subset")

    references = sub.add_parser(
        "references",
        help="isolated-atom reference energies (EMT or GFN1-xTB) for element_energies",
        description="Compute each element's free-atom energy with a real calculator and "
        "write a file that element_energies accepts. " + USE,
    )
    references.add_argument(
        "--calculator", required=True, choices=CALCULATORS, help="ASE's EMT or GFN1-xTB (tblite)"
    )
    references.add_argument("--elements", required=True, help="comma-separated, e.g. Cu,Au,O,H")
    references.add_argument("--out", required=True, metavar="FILE", help="YAML file to write")
    references.add_argument("--force", action="store_true", help="replace an existing --out file")
    references.set_defaults(handler="data:run_references")

    label = sub.add_parser(
        "label",
        help="label frames of a trajectory with EMT or GFN1-xTB: training data where a model went",
        description="Label frames spread evenly over a trajectory (an md-check's "
        "trajectory.extxyz, any file ASE reads) with a real calculator, and write them as "
        "extended XYZ to add to the --data of finetune or sweep. Use the calculator (and "
        "settings) that labelled the training data. Frames that held forces (an md-check "
        "trajectory holds the model's) are compared with the new labels.",
    )
    label.add_argument(
        "--trajectory", required=True, metavar="FILE", help="frames to label (any file ASE reads)"
    )
    label.add_argument(
        "--calculator", required=True, choices=CALCULATORS, help="ASE's EMT or GFN1-xTB (tblite)"
    )
    label.add_argument(
        "--frames",
        type=positive_int,
        default=50,
        help="how many frames, spread evenly over the trajectory, first and last included "
        "(default 50)",
    )
    label.add_argument(
        "--out",
        required=True,
        help="extxyz file to write (never the trajectory; an existing file only with --force)",
    )
    label.add_argument("--force", action="store_true", help="replace an existing --out file")
    label.set_defaults(handler="data:run_label")
