"""The arguments of ``finetune``, ``chain``, ``compare`` and ``export-aenet``."""

from __future__ import annotations

from typing import Any

from hpo.cli.arguments import (
    add_data_arguments,
    add_element_energies_argument,
    add_energy_unit_argument,
    add_tracking_uri_argument,
    non_negative_int,
    positive_float,
    positive_int,
)
from lightning_modules.training.strategies import STRATEGIES

DEFAULT_FINETUNE_DIR = "pesweep_runs/finetune"

DEFAULT_CHAIN_DIR = "pesweep_runs/chain"


def add_transfer_commands(sub: Any) -> None:
    """Register finetune, chain, compare and export-aenet."""
    tune = sub.add_parser("finetune", help="fine-tune a pretrained model on target data")
    tune.add_argument(
        "--from",
        dest="source",
        required=True,
        help="models:/NAME@ALIAS, runs:/ID/model or a .ckpt path",
    )
    add_data_arguments(tune, True)
    tune.add_argument(
        "--strategy",
        choices=list(STRATEGIES),
        default="full",
        help="what is trained; the rest is frozen",
    )
    tune.add_argument("--lr", type=positive_float, help="default: a tenth of the pretraining lr")
    tune.add_argument(
        "--max-epochs", type=positive_int, default=20, help="epochs of the fine-tuning"
    )
    tune.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the split and the training"
    )
    tune.add_argument("--cutoff", type=float, help="must equal the pretrained model's cutoff")
    add_element_energies_argument(tune)
    tune.add_argument(
        "--output-dir",
        help=f"where the checkpoint goes (refused when it holds "
        f"files, unless --overwrite; default {DEFAULT_FINETUNE_DIR}, or the next "
        f"free {DEFAULT_FINETUNE_DIR}-N)",
    )
    tune.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier run in --output-dir",
    )
    tune.add_argument("--promote-as", metavar="NAME", help="register the result under NAME")
    tune.add_argument(
        "--no-tracking",
        action="store_true",
        help="log no MLflow run (files only; not with --promote-as)",
    )
    tune.add_argument("--alias", default="finetuned", help="the alias of --promote-as")
    add_tracking_uri_argument(tune, "of the --from model and the fine-tuning run")
    tune.set_defaults(handler="transfer:run_finetune")

    chain = sub.add_parser(
        "chain",
        help="continuous transfer: train on the first data set, "
        "fine-tune on each next, register every stage",
    )
    add_data_arguments(chain, True)
    chain.add_argument("--config", help="YAML training config of the first stage")
    chain.add_argument("--from", dest="source", help="start from this model instead")
    chain.add_argument("--model-name", default="chain", help="registered model of the stages")
    chain.add_argument(
        "--strategy", choices=list(STRATEGIES), default="full", help="what each stage trains"
    )
    chain.add_argument("--lr", type=positive_float, help="fine-tuning lr (default: a tenth)")
    chain.add_argument(
        "--max-epochs", type=positive_int, help="epochs per stage (default: the config's, else 50)"
    )
    chain.add_argument(
        "--seed",
        type=non_negative_int,
        help="seed of splits and training (default: the config's, else 0)",
    )
    chain.add_argument(
        "--no-direct", action="store_true", help="skip direct training on each set (the comparison)"
    )
    chain.add_argument(
        "--runs-dir",
        help=f"where the stages go (refused when it holds files, "
        f"unless --overwrite; default {DEFAULT_CHAIN_DIR}, or the next free "
        f"{DEFAULT_CHAIN_DIR}-N)",
    )
    chain.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier chain in --runs-dir",
    )
    add_tracking_uri_argument(chain, "of the stages' runs and versions")
    chain.set_defaults(handler="transfer:run_chain_command")

    compare = sub.add_parser(
        "compare", help="scratch against transfer, same budget per seed, paired t-test"
    )
    compare.add_argument(
        "--target", nargs="+", required=True, metavar="PATH", help="the target data file(s)"
    )
    compare.add_argument(
        "--from",
        dest="source",
        required=True,
        help="the pretrained model: models:/NAME@ALIAS, runs:/ID/model or a .ckpt path",
    )
    add_energy_unit_argument(compare)
    compare.add_argument(
        "--seeds", type=positive_int, default=5, help="seeds (pairs of scratch and transfer)"
    )
    compare.add_argument(
        "--max-epochs", type=positive_int, default=20, help="epochs of every training"
    )
    compare.add_argument(
        "--strategy", choices=list(STRATEGIES), default="full", help="what the transfer trains"
    )
    compare.add_argument(
        "--lr", type=positive_float, help="fine-tuning lr (default: a tenth of the pretraining lr)"
    )
    add_tracking_uri_argument(compare, "of the --from model and the comparison run")
    compare.set_defaults(handler="transfer:run_compare")

    export = sub.add_parser(
        "export-aenet", help="write a trained ænet model as ænet-PyTorch's <element>.nn.ascii files"
    )
    export.add_argument(
        "checkpoint", help="checkpoint file or folder, models:/NAME@ALIAS or runs:/"
    )
    export.add_argument("--out", default=".", help="folder for the files")
    export.add_argument(
        "--rc-min",
        type=float,
        default=0.5,
        help="ænet's RMIN, Angstrom (sizes its neighbour lists; default 0.5)",
    )
    add_tracking_uri_argument(export, "holding the models:/ or runs:/ checkpoint")
    export.set_defaults(handler="transfer:run_export_aenet")
