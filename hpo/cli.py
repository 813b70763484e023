"""The ``pesweep`` command line: a thin layer over the library (configuration lives in files).

Every user error ends in one line ``pesweep: error: ...`` naming the problem
and the fix, with exit status 2; nothing already stored is touched.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from hpo.console import configure_logging

logger = logging.getLogger("pesweep")


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
    from lightning_modules.conventions import normalise_energy_unit

    try:
        return normalise_energy_unit(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_energy_unit_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--energy-unit``: the same case-insensitive list in every command."""
    from lightning_modules.conventions import ENERGY_UNITS

    parser.add_argument(
        "--energy-unit",
        default=default,
        type=energy_unit,
        metavar="UNIT",
        help=f"unit of the energies in the files: {', '.join(ENERGY_UNITS)}, any case (the "
        f"SeB_n npz files are hartree; default {default or 'ev'})",
    )


def _add_data_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
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


def _describe_subcommands(parser: argparse.ArgumentParser) -> None:
    """A subcommand without a description of its own gets its one-line help as one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                if not subparser.description and helps.get(name):
                    subparser.description = helps[name]
                _describe_subcommands(subparser)


def build_parser() -> argparse.ArgumentParser:
    from hpo import (
        commands,
        data_commands,
        dataset_commands,
        md_commands,
        model_commands,
        view_commands,
    )
    from hpo.schedule.commands import add_schedule_commands
    from hpo.sync_command import add_sync_command

    parser = Parser(
        prog="pesweep",
        description="Hyperparameter sweeps for machine-learning interatomic potentials: "
        "Optuna studies over Lightning modules, tracked in MLflow.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data_commands.add_data_commands(sub, _add_data_arguments)
    dataset_commands.add_dataset_commands(sub)
    commands.add_sweep_commands(sub, _add_data_arguments)
    model_commands.add_model_commands(sub, _add_data_arguments)
    md_commands.add_md_commands(sub)
    view_commands.add_view_commands(sub)
    add_schedule_commands(sub)
    add_sync_command(sub)
    _describe_subcommands(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pesweep`` console script; returns the exit status."""
    from hpo.interrupts import Interrupted, interrupts_raise
    from lightning_modules.errors import PesweepError

    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        with interrupts_raise():
            status = int(args.handler(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
            return status
    except BrokenPipeError:  # `pesweep ... | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush at exit
        return 141  # as a program ended by SIGPIPE
    except PesweepError as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"pesweep: error: {message}", file=sys.stderr)
        return 2
    except Interrupted as interruption:
        retry = "; it is enqueued to resume from its last epoch" if interruption.preempted else ""
        print(
            f"pesweep: {interruption}: finished trials, runs and checkpoints are kept; a "
            f"running trial ended as FAIL ({interruption.reason}), its MLflow run and the "
            f"study's parent run as KILLED{retry}",
            file=sys.stderr,
        )
        return interruption.exit_code
    except KeyboardInterrupt:  # before the handlers were set
        print("pesweep: interrupted; finished trials and runs are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
