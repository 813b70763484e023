#!/usr/bin/env bash
# The wheel as a user installs it: built from the repository, installed without -e into a
# clean environment, every subcommand's --help and a one-trial sweep run from outside the
# checkout (so that nothing is imported from the source tree).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet torch==2.13.0  # the CPU wheel on this disk
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/pesweep-*.whl
cd "$work"
pesweep="$work/venv/bin/pesweep"
"$work/venv/bin/python" - "$pesweep" <<'PY'
import subprocess, sys
from hpo.cli.main import build_parser, command_parsers

found = [words for words, _ in command_parsers(build_parser()) if words]
for words in found:
    subprocess.run([sys.argv[1], *words, "--help"], check=True, stdout=subprocess.DEVNULL)
print(f"wheel: --help of {len(found)} commands and subcommands ran")
PY
"$pesweep" demo --workdir demo --n-trials 1 --max-epochs 1 --n-structures 40 >/dev/null
echo "wheel: a one-trial sweep ran from the installed wheel"
"$work/venv/bin/python" - <<'PY'
import glob
import pesweep

for name in pesweep.__all__:
    getattr(pesweep, name)
checkpoint = sorted(glob.glob("demo/**/best.ckpt", recursive=True))[0]
calculator = pesweep.load_potential(checkpoint)
print(f"wheel: pesweep's {len(pesweep.__all__)} public names load; load_potential read {checkpoint}")
PY
