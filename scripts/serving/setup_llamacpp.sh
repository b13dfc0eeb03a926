#!/usr/bin/env bash
# Create (or check) a venv with llama-cpp-python's OpenAI-compatible server, built from its PyPI sdist for this CPU,
# for `qup bench engines` (engine llamacpp): it serves a GGUF file as it is, through qup's openai engine.
# Opt-in, never part of scripts/setup.sh or CI: the build takes minutes (llama.cpp compiled with this machine's
# instruction set) and needs a C/C++ compiler and cmake (scikit-build-core fetches cmake and ninja when absent).
#
#   usage: bash scripts/serving/setup_llamacpp.sh [VENV_DIR]      (default .venv-llamacpp)
#
# Idempotent: a venv whose llama-cpp-python is already the pinned version only gets checked (a few seconds).
# Env: PYTHON (default python3, 3.9+), CMAKE_ARGS (extra llama.cpp build options, e.g. -DGGML_NATIVE=OFF to build
#   for any x86-64 rather than this CPU), LLAMACPP_VERSION (default the pin below).
set -euo pipefail

T0=$(date +%s)
finish() { echo "setup_llamacpp: $1 in $(( $(date +%s) - T0 )) s"; }

VERSION=${LLAMACPP_VERSION:-0.3.36}
VENV=${1:-.venv-llamacpp}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

installed() { "$VPY" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' 2>/dev/null || true; }

if [ "$(installed)" != "$VERSION" ]; then
  echo "building llama-cpp-python $VERSION from its sdist into $VENV (minutes)"
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    "$VPY" -m pip install --disable-pip-version-check --no-binary llama-cpp-python \
    "llama-cpp-python[server]==$VERSION"
fi

# smoke check: the server's app imports, and the build says what it uses of this CPU
( cd / && "$VPY" - <<'EOF'
import llama_cpp, llama_cpp.server.app  # noqa: F401
print(f"ok: llama-cpp-python {llama_cpp.__version__}; {llama_cpp.llama_print_system_info().decode().strip()}")
EOF
) || { echo "smoke check failed" >&2; exit 1; }
finish "ready ($VENV, $(du -sh "$VENV" | cut -f1))"
