#!/usr/bin/env bash
# The GPU benchmark of issue #30 in one command, on a machine with a CUDA device:
#   bash benchmarks/gpu/run_gpu_bench.sh [OUT_FOLDER] [BUDGET_SECONDS]
# Writes OUT_FOLDER/gpu_training.{json,md} (default benchmarks/results/gpu; $OUT when set) and
# a log. About 5 minutes of an idle H200: the parts of gpu_training.py start until
# BUDGET_SECONDS (default 300) have passed, the rest are written down as skipped; a part still
# running 4 minutes after that is stopped, and what was measured before it stays written. Then:
#   cp OUT_FOLDER/gpu_training.md benchmarks/results/ && python benchmarks/run.py --join
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:-benchmarks/results/gpu}}
budget=${2:-300}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv >"$out/nvidia-smi.txt" || true
PYTHONPATH=$PWD timeout $((budget + 240)) python benchmarks/gpu/gpu_training.py --out "$out" \
    --budget-s "$budget" \
    2>&1 | tee "$out/gpu_training.log" || echo "gpu_training.py stopped early (exit $?)"
cat "$out/gpu_training.md"
