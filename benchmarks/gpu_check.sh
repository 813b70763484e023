#!/usr/bin/env bash
# The GPU path on a machine with CUDA, in one short run (about 10 minutes):
#  1. a 2-worker sweep on --devices 0 (two trials sharing one GPU), with the GPU's memory
#     sampled by nvidia-smi while it runs;
#  2. the SchNet throughput benchmark on CUDA against schnetpack (both sides on the GPU),
#     then on the CPU, for the CPU-vs-GPU ratio.
# Prints the date, the device, trials per hour, structures per second, peak GPU memory.
#
#     [LIMIT=400] [DATA=file.npz] bash benchmarks/gpu_check.sh   (after the README set-up line)
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT="${LIMIT:-400}"
. .venv/bin/activate 2>/dev/null || true
date -u +"date: %Y-%m-%dT%H:%M:%SZ"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA GPU'; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

work="$(mktemp -d)"
trap 'kill "${sampler:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
(while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits >> "$work/mem"; sleep 0.5; done) &
sampler=$!
start=$(date +%s.%N)
pesweep sweep --study gpu-check --space demo --data "${DATA:-../shared/data/seb_clusters/SeBn/B=20.npz}" \
    --energy-unit hartree --workers 2 --devices 0 --n-trials 4 --max-epochs 5 \
    --storage "sqlite:///$work/optuna.db" --tracking-uri "sqlite:///$work/mlflow.db" \
    --runs-dir "$work/runs" --no-progress-bar > "$work/sweep.out" 2> "$work/sweep.err" \
    || { tail -20 "$work/sweep.err"; exit 1; }
end=$(date +%s.%N)
kill "$sampler"
python - "$start" "$end" "$work/mem" <<'PY'
import sys
start, end, mem = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
used = [int(x) for x in open(mem).read().split() if x.strip().isdigit()]
print(f"2 workers on GPU 0: 4 trials in {end - start:.1f} s = {4 / (end - start) * 3600:.0f} trials/h, "
      f"peak GPU memory {max(used) if used else 'n/a'} MiB")
PY
grep -E "complete|best trial" "$work/sweep.out"
python benchmarks/schnet_throughput.py --accelerator gpu --threads 1 --repeats 3 --limit "$LIMIT" --datasets SeBn/B=20
python benchmarks/schnet_throughput.py --accelerator cpu --threads 2 --repeats 1 --limit "$LIMIT" --datasets SeBn/B=20
