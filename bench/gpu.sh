#!/usr/bin/env bash
# One command for the engine's GPU figures (decode vs bandwidth bound, TTFT at 2048, toggle time); < 8 minutes.
#   bench/gpu.sh          on a CUDA machine with this repo's venv
#   bench/gpu.sh --tiny   anywhere: a tiny CPU model, to check the script itself
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
exec timeout 480 "$PYTHON" bench/bench_gpu.py "$@"
