"""MkDocs hook: the reference pages are generated at build time, so they cannot drift.

``<!-- pesweep:cli -->`` becomes every command's ``--help`` (from the argparse
parser the ``pesweep`` command uses); ``<!-- pesweep:python -->`` becomes
the signature and docstring of every name in ``pesweep.__all__``.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

CLI_MARK = "<!-- pesweep:cli -->"
PYTHON_MARK = "<!-- pesweep:python -->"


def cli_reference() -> str:
    """Markdown: one section per command and subcommand, its ``--help`` verbatim."""
    from hpo.cli.main import build_parser, command_parsers

    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width
    sections = []
    for words, parser in command_parsers(build_parser()):
        title = " ".join(("pesweep", *words))
        level = "#" * min(2 + len(words), 4)
        sections.append(f"{level} `{title}`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
    return "\n".join(sections)


def _summary(value: Any) -> str:
    try:
        signature = str(inspect.signature(value))
    except (TypeError, ValueError):
        signature = ""
    kind = "class" if inspect.isclass(value) else "def"
    return f"{kind} {value.__name__}{signature}"


def python_reference() -> str:
    """Markdown: every public name of ``pesweep`` with its signature and docstring."""
    import pesweep

    sections = []
    for name in pesweep.__all__:
        if name == "__version__":
            continue
        value = getattr(pesweep, name)
        module = pesweep._PUBLIC[name]
        doc = inspect.cleandoc(value.__doc__ or "")
        sections.append(
            f"## `pesweep.{name}`\n\n```python\n{_summary(value)}\n```\n\n"
            f"Defined in `{module}`.\n\n```text\n{doc}\n```\n"
        )
    return "\n".join(sections)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    if PYTHON_MARK in markdown:
        markdown = markdown.replace(PYTHON_MARK, python_reference())
    return markdown
