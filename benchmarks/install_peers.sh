#!/usr/bin/env bash
# Install the benchmark peers into the active environment (never a dependency of pesweep).
# schnetpack 2.1.1 pins sympy<=1.12 (torch needs >= 1.13.3), so a plain install would drag in
# a CUDA torch: install it without dependencies, then its real runtime dependencies.
set -euo pipefail
python -m pip install --quiet --no-deps schnetpack==2.1.1
python -m pip install --quiet h5py hydra-core hydra-colorlog rich fasteners dirsync torch-ema \
    matscipy tqdm
