#!/usr/bin/env bash
# GPU benchmark on a CUDA machine: found batch sizes per tile (128/256/512), training samples/s and peak GPU memory
# at those batches, prediction MPix/s; written to the "## GPU" section of BENCHMARKS.md with the card's name.
#   bench/gpu.sh                       # PSSR's ResNet-34 UNet (self-attention, blur)
#   bench/gpu.sh --arch plain          # the lighter plain UNet
#   bench/gpu.sh --budget 20GiB        # pretend the card has less memory
# The same code path runs on a CPU with tiny sizes: .venv/bin/python bench/gpu.py --device cpu --quick
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "bench/gpu.sh: no CUDA device here (dry run on the CPU: python bench/gpu.py --device cpu --quick)")'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec "$PY" bench/gpu.py --device cuda --out BENCHMARKS.md "$@"
