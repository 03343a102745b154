#!/usr/bin/env bash
# One command for the GPU figures: the engine's (decode vs bandwidth bound, TTFT at 2048, toggle time; < 8 minutes),
# then vLLM's decode on the same 7B shape beside it (when .venv-vllm exists; < 10 minutes, most of it writing the
# 14 GB checkpoint and vLLM starting), then training's (LoRA tokens/s and peak memory for the 7B shape at 2048
# tokens, QLoRA int4 and, with the memory for it, 16-bit; < 10 minutes).
#   bench/gpu.sh          on a CUDA machine with this repo's venv (training needs the train extra: peft, bitsandbytes)
#   bench/gpu.sh --tiny   anywhere: tiny CPU models, to check the scripts themselves
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
VLLM_PYTHON="${VLLM_PYTHON:-.venv-vllm/bin/python}"
timeout 480 "$PYTHON" bench/bench_gpu.py "$@"
echo
if [ -x "$VLLM_PYTHON" ]; then
    timeout 600 "$VLLM_PYTHON" bench/bench_vllm.py "$@"
else
    echo "vLLM: skipped ($VLLM_PYTHON missing: \`make .venv-vllm/.installed\` builds it; on a GPU it installs vllm)"
fi
echo
exec timeout 600 "$PYTHON" bench/bench_train.py "$@"
