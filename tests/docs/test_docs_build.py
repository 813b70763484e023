"""The documentation builds with ``mkdocs build --strict``, and its reference pages match the code."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pesweep

REPO = Path(__file__).resolve().parents[2]


def test_mkdocs_builds_strict_with_every_command_and_every_public_name(tmp_path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[dev]'")
    from hpo.cli.main import build_parser

    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cli = (site / "reference" / "cli" / "index.html").read_text()
    sections = set(re.findall(r'<h[234] id="(pesweep[^"]*)"', cli))
    subcommands = next(
        action.choices
        for action in build_parser()._actions
        if hasattr(action, "choices") and isinstance(action.choices, dict)
    )
    assert sections == {"pesweep", *(f"pesweep-{name}" for name in subcommands)}
    assert cli.count("usage: pesweep") == len(sections)
    python = (site / "reference" / "python" / "index.html").read_text()
    assert python.count("Defined in") == len(pesweep.__all__) - 1  # all but __version__
    for page in ("tutorial", "architecture", "how-to/clusters", "benchmarks/seb-study"):
        assert (site / page / "index.html").exists(), page
