"""The argument types and shared options of pesweep's parsers.

Every command module builds its options from these, so one option reads and
fails the same way everywhere; argparse turns their ``ArgumentTypeError`` into
``pesweep: error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
from typing import Any

from hpo.tracking.stores import DEFAULT_STORAGE, STORAGE_ENV
from lightning_modules.conventions import DEFAULT_TRACKING_URI, ENERGY_UNITS, normalise_energy_unit


def _whole_number(text: str, minimum: int, wanted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number above zero."""
    return _whole_number(text, 1, "a positive whole number")


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number, zero or more (seeds)."""
    return _whole_number(text, 0, "a whole number, 0 or more")


def positive_float(text: str) -> float:
    """An argparse type: a finite number above zero (learning rates, seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def energy_unit(text: str) -> str:
    """An argparse type: an energy unit of :mod:`lightning_modules.conventions`, any case."""

    try:
        return normalise_energy_unit(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_energy_unit_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--energy-unit``: the same case-insensitive list in every command."""

    parser.add_argument(
        "--energy-unit",
        default=default,
        type=energy_unit,
        metavar="UNIT",
        help=f"unit of the energies in the files: {', '.join(ENERGY_UNITS)}, any case (the "
        f"SeB_n npz files are hartree; default {default or 'ev'})",
    )


def add_data_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--data",
        nargs="+",
        required=required,
        metavar="PATH",
        help="data file(s): .npz (R, E, z[, F]), ænet XSF (file, folder or .tar.gz) or any "
        "ase.io format with energies (extxyz, ASE db, ...)",
    )
    add_energy_unit_argument(parser)


def add_element_energies_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--element-energies",
        metavar="FILE",
        help="element reference energies (eV per free atom) from `pesweep references`; "
        "needed when the data hold a single composition and the model must predict others",
    )


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, as argparse's ``ArgumentDefaultsHelpFormatter``,
    unless the default is nothing (None, an unset flag) or the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or default in (None, False, argparse.SUPPRESS)
            or "%(default)" in text
            or str(default) in text
        ):
            return action.help
        return f"{text} (default: %(default)s)".lstrip()


class Parser(argparse.ArgumentParser):
    """pesweep's parsers: defaults shown in ``--help`` (subcommands are made of this class too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.help is None and action.option_strings and action.default not in (None, False):
            action.help = "(default: %(default)s)"  # an option without help still shows it
        return action


def add_tracking_uri_argument(
    parser: argparse.ArgumentParser, what: str, study: bool = False
) -> None:
    """``--tracking-uri``: the MLflow store ``what`` (its default order named in the help)."""

    order = "the study's own, else " if study else ""
    parser.add_argument(
        "--tracking-uri",
        help=f"MLflow tracking URI {what} (default: $MLFLOW_TRACKING_URI, else {order}"
        f"{DEFAULT_TRACKING_URI})",
    )


def add_storage_argument(parser: argparse.ArgumentParser, *names: str, **kwargs: Any) -> None:
    """``--storage``: the Optuna storage, resolved when the command runs.

    Its default is not evaluated here: ``--help`` must never print the URL of
    ``$PESWEEP_STORAGE``, which may hold a password.
    """

    parser.add_argument(
        *(names or ("--storage",)),
        default=None,
        help=f"Optuna storage URL (default: ${STORAGE_ENV}, else {DEFAULT_STORAGE}; "
        f"postgresql://... for shared studies: keep its password in ${STORAGE_ENV}, "
        f"not on the command line)",
        **kwargs,
    )
