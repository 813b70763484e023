"""``pesweep <command> --help``: every default shown, every command described."""

from __future__ import annotations

import argparse

from hpo.cli.main import build_parser, command_parsers


def all_parsers(parser: argparse.ArgumentParser):
    """("pesweep <words>", parser) for the command and every subcommand."""
    for words, subparser in command_parsers(parser):
        yield " ".join(("pesweep", *words)), subparser


def test_every_help_shows_every_default_and_a_description() -> None:
    parsers = dict(all_parsers(build_parser()))
    assert {"pesweep ui", "pesweep report", "pesweep demo", "pesweep spaces"} <= set(parsers)
    for name, parser in parsers.items():
        text = " ".join(parser.format_help().split())
        assert parser.description, f"{name} has no description"
        for action in parser._actions:
            if not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
                continue
            assert str(action.default) in text, f"{name} {action.option_strings[0]}: no default"


def test_every_option_says_what_it_does_and_names_its_default_once() -> None:
    for name, parser in all_parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            option = f"{name} {action.option_strings[0]}"
            assert action.help and not action.help.startswith("(default"), f"{option}: no help"
            text = formatter._expand_help(action).lower()
            assert text.count("default") <= 1, f"{option} names its default twice: {text}"


def test_spaces_and_models_actions_are_explained() -> None:
    parsers = dict(all_parsers(build_parser()))
    spaces = " ".join(parsers["pesweep spaces"].format_help().split())
    for action in ("list:", "show:", "check:"):
        assert action in spaces
    models = " ".join(parsers["pesweep models"].format_help().split())
    assert "lineage" in models and "--json" in models


def test_tracking_uri_help_is_true_for_each_command() -> None:
    parsers = dict(all_parsers(build_parser()))
    for name in ("models", "finetune", "chain", "compare", "export-aenet", "train", "ui"):
        text = " ".join(parsers[f"pesweep {name}"].format_help().split())
        assert "$MLFLOW_TRACKING_URI" in text, name
        assert "a sweep's own is used for promote" not in text
    promote = " ".join(parsers["pesweep promote"].format_help().split())
    assert "the study's own" in promote


def test_help_imports_no_handler_and_no_heavy_library() -> None:
    """The parsers name their handlers: ``--help`` imports no command module, nor torch,
    Lightning, MLflow, SQLAlchemy or ASE's dynamics (a second of start-up before)."""
    import subprocess
    import sys

    code = (
        "import sys; from hpo.cli.main import build_parser; build_parser().format_help(); "
        "print(sorted(m for m in sys.modules if m.startswith('hpo.cli.commands.') or m in "
        "('torch', 'lightning', 'mlflow', 'sqlalchemy', 'ase.md', 'scipy')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def test_every_command_names_a_handler_that_exists() -> None:
    from hpo.cli.main import command_handler

    handled = 0
    for name, parser in all_parsers(build_parser()):
        handler = parser.get_default("handler")
        if handler is not None:
            assert callable(command_handler(handler)), f"{name}: {handler} is no function"
            handled += 1
    assert handled >= 18  # every command and subcommand that runs something
