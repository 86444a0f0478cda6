#!/usr/bin/env bash
# Every family on CUDA (1 GPU, then 2 when present): samples/s, the metrics the CPU runs report, and
# checks against the CPU and between device counts; exits 1 on a mismatch, 2 without a CUDA device.
# Usage, from the repository root:  bash benchmarks/gpu_check.sh [--steps 300] [--out DIR] [--families a,b]
# (details and tolerances: benchmarks/gpu_check.py)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
   && [[ " $* " != *" --accelerator cpu "* ]]; then
    echo "gpu_check: no CUDA device visible to $PYTHON (torch.cuda.is_available() is False); run it on a machine" \
         "with an NVIDIA GPU and a CUDA build of torch" >&2
    exit 2
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
