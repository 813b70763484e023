"""The ``pesweep`` command line: a thin layer over the library (configuration lives in files).

Every user error ends in one line ``pesweep: error: ...`` naming the problem
and the fix, with exit status 2; nothing already stored is touched.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence

from hpo.cli.arguments import Parser
from hpo.cli.parsers import data, datasets, md, registry, schedule, sweep, sync, transfer, view
from hpo.runtime.console import configure_logging

logger = logging.getLogger("pesweep")


def command_parsers(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command's words and parser, the top one first (``()``): for help and docs."""
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from command_parsers(subparser, (*words, name))


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
    parser = Parser(
        prog="pesweep",
        description="Hyperparameter sweeps for machine-learning interatomic potentials: "
        "Optuna studies over Lightning modules, tracked in MLflow.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data.add_data_commands(sub)
    datasets.add_dataset_commands(sub)
    sweep.add_sweep_commands(sub)
    registry.add_registry_commands(sub)
    transfer.add_transfer_commands(sub)
    md.add_md_commands(sub)
    view.add_view_commands(sub)
    schedule.add_schedule_commands(sub)
    sync.add_sync_command(sub)
    _describe_subcommands(parser)
    return parser


def command_handler(name: str) -> Callable[[argparse.Namespace], int]:
    """The handler ``GROUP:FUNCTION`` of a parsed command, imported only now.

    The parsers (:mod:`hpo.cli.parsers`) name their handlers instead of
    importing them, so ``--help`` and a wrong option cost no import of the
    libraries a command needs (:mod:`hpo.cli.commands`).
    """
    group, _, function = name.partition(":")
    return getattr(importlib.import_module(f"hpo.cli.commands.{group}"), function)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pesweep`` console script; returns the exit status."""
    from hpo.runtime.interrupts import Interrupted, interrupts_raise
    from lightning_modules.errors import PesweepError

    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        with interrupts_raise():
            status = int(command_handler(args.handler)(args) or 0)
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
