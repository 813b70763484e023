"""The tutorial's commands, run in order as a new user types them (docs/tutorial.md)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"


def tutorial_commands() -> list[str]:
    """Every line of the tutorial's ```bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(), flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.slow  # ten commands, each a fresh interpreter: 1.5-3 minutes on 2 cores
def test_the_tutorial_runs_from_demo_to_md_check(tmp_path) -> None:
    commands = tutorial_commands()
    assert [c.split()[1] for c in commands if c.startswith("pesweep")][:1] == ["demo"]
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    cwd = tmp_path
    outputs = []
    for command in commands:
        words = shlex.split(command)
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        done = subprocess.run(
            command, shell=True, cwd=cwd, env=environment, capture_output=True, text=True
        )
        allowed = (0, 1) if words[1] == "md-check" else (0,)  # 1: the model failed the check
        assert done.returncode in allowed, f"{command}\n{done.stderr[-2000:]}"
        outputs.append(done.stdout)
    assert "cuau" in outputs[4] and "pretrained" in outputs[4]  # models list after promote
    assert re.search(r": (PASS|FAIL)", outputs[-1])
    assert (cwd / "report.html").stat().st_size > 10_000
    assert (cwd / "md" / "md_report.json").exists()
