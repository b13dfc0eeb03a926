#!/usr/bin/env bash
# The GPU serving venvs (called by `setup.sh --cuda`): PyPI's CUDA builds, every package pinned, on Linux x86_64
# with Python 3.11 and an NVIDIA driver for CUDA 13 (R580 or newer). SGLang and vLLM pin different torch releases
# (sglang 0.5.23: torch==2.14.1, vllm 0.33.0: torch==2.14.0), so each engine gets its own venv and pin list:
#
#   bash scripts/serving/setup.sh --cuda VENV                       sglang + sglang-router (what GPU presets name)
#   bash scripts/serving/setup.sh --cuda --engine vllm VENV         vllm (its OpenAI-compatible server)
#   bash scripts/serving/setup.sh --cuda [--engine E] --dry-run     resolve the pins against the index, install nothing
#   bash scripts/serving/setup.sh --cuda [--engine E] --relock      resolve requirements-cuda-E.txt afresh, rewrite
#                                                                   constraints-cuda-E.txt (then review the diff)
#
# * requirements-cuda-E.txt holds the top-level packages, constraints-cuda-E.txt every package the resolution
#   installs, pinned: the install is `pip install -r requirements -c constraints` and must end with exactly the pins.
# * --dry-run and --relock ask the index only (pip config files, find-links and extra indexes are ignored; an index
#   of your own: PIP_INDEX_URL) and read each wheel's metadata without the wheel: PEP 658 metadata where the index
#   serves it, else HTTP range requests (pip's fast-deps). They run pip 26.3 (PIP_VERSION) from a throwaway venv: an older
#   pip (Python 3.11's bundled 23.2) downloads every wheel in a dry run, 4.4 GB here against 83 MB.
# * An install is idempotent: a venv that already matches the pins is only checked. Prints the total duration.
# Env: PYTHON (default python3, must be 3.11).
set -euo pipefail

T0=$(date +%s)
finish() { echo "setup_serving --cuda: $1 in $(( $(date +%s) - T0 )) s"; }
usage() { sed -n '6,10p' "${BASH_SOURCE[0]}" | sed 's/^#   //' >&2; exit 2; }

ENGINE=sglang MODE=install VENV=
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) ENGINE=${2:?--engine takes sglang or vllm}; shift ;;
    --dry-run) MODE=dry-run ;;
    --relock) MODE=relock ;;
    -h|--help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) VENV=$1 ;;
  esac
  shift
done
case "$ENGINE" in sglang|vllm) ;; *) echo "--engine takes sglang or vllm, not $ENGINE" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REQ="$HERE/requirements-cuda-$ENGINE.txt"
LOCK="$HERE/constraints-cuda-$ENGINE.txt"
PY=${PYTHON:-python3}
PIP_VERSION=26.3  # the pip that resolves, relocks and installs
"$PY" -c 'import sys, platform
assert sys.version_info[:2] == (3, 11), f"need Python 3.11 (the pins are resolved for cp311), not {platform.python_version()}"
assert sys.platform == "linux" and platform.machine() == "x86_64", "the pins are for Linux x86_64"'

resolve() {  # resolve REPORT [pip args...]: pip's installation report of the requirements, from the index alone
  local report=$1; shift
  env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT -u PIP_NO_INDEX PIP_CONFIG_FILE=/dev/null \
    "$work/pip/bin/python" -m pip install --dry-run --ignore-installed --quiet --disable-pip-version-check \
    --use-feature=fast-deps --report "$report" -r "$REQ" "$@"
}

if [ "$MODE" != install ]; then
  [ -z "$VENV" ] || { echo "--$MODE installs nothing: drop $VENV" >&2; exit 2; }
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  "$PY" -m venv "$work/pip"
  "$work/pip/bin/python" -m pip install --quiet --disable-pip-version-check "pip==$PIP_VERSION"
  if [ "$MODE" = relock ]; then
    resolve "$work/report.json"
    header="Every package of the CUDA $ENGINE serving venv, pinned: resolved from $(basename "$REQ") by
setup.sh --cuda --engine $ENGINE --relock for Python 3.11 on Linux x86_64 ($(date -u +%Y-%m-%d)).
Installed with 'pip install -r $(basename "$REQ") -c $(basename "$LOCK")'; checked by --dry-run."
    "$PY" "$HERE/pins.py" lock "$work/report.json" "$header" > "$work/lock.txt"
    mv "$work/lock.txt" "$LOCK"
    "$PY" "$HERE/pins.py" check "$work/report.json" "$LOCK"
    finish "wrote $LOCK"
  else
    [ -f "$LOCK" ] || { echo "missing $LOCK (make it with --relock)" >&2; exit 1; }
    resolve "$work/report.json" -c "$LOCK"
    "$PY" "$HERE/pins.py" check "$work/report.json" "$LOCK"
    finish "dry run of $(basename "$LOCK") resolved, nothing installed"
  fi
  exit 0
fi

[ -n "$VENV" ] || usage
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
[ -f "$LOCK" ] || { echo "missing $LOCK" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
"$VPY" -m pip install --quiet --disable-pip-version-check "pip==$PIP_VERSION"
matches() { "$VPY" "$HERE/pins.py" venv "$LOCK" 2>"${1:-/dev/null}"; }

if ! matches; then
  echo "installing $(grep -cvE '^[[:space:]]*(#|$)' "$LOCK") pinned packages into $VENV (several GB)"
  "$VPY" -m pip install --disable-pip-version-check -r "$REQ" -c "$LOCK"
  matches /dev/stderr || { echo "venv $VENV does not match $LOCK after the install (above)" >&2; exit 1; }
fi

# smoke check: a CUDA build of torch, and the engine's entry points import (a GPU is not needed for either)
( cd / && HF_HUB_OFFLINE=1 ENGINE=$ENGINE "$VPY" - <<'EOF'
import os, torch
assert torch.version.cuda, f"torch {torch.__version__} is not a CUDA build"
if os.environ["ENGINE"] == "sglang":
    import sglang, sglang.launch_server, sglang_router  # noqa: F401
    engine = f"sglang {sglang.__version__}"
else:
    import vllm, vllm.entrypoints.openai.api_server  # noqa: F401
    engine = f"vllm {vllm.__version__}"
gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
print(f"ok: {engine}, torch {torch.__version__} (CUDA {torch.version.cuda}), {gpus} GPU(s) visible")
EOF
) || { echo "smoke check failed" >&2; exit 1; }
finish "ready ($VENV, $(du -sh "$VENV" | cut -f1))"
