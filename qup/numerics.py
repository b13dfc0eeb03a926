"""CPU numerics pinned to one instruction set for the toy world, so its figures come back bit for bit on any x86-64 CPU.

Torch's vector kernels (ATen), MKL and oneDNN each choose a code path by the CPU's instruction set,
and their float sums run in a different order on each path. Each library reads its variable once,
at first use, so ``pin_cpu_numerics`` runs before torch is imported (``stages/__init__.py``), and it
overrides the environment's values: the pin, not the machine, decides. The pin costs the toy SLM's
training a few per cent of its speed (4% measured, scripts/isa_probe.py).

Only the toy world is pinned (``models.slm.name: toy``, the default): its committed figures are
promised bit for bit. A real model keeps the kernels its CPU offers (AVX-512, VNNI, BF16, AMX), and
so do the servers a stage starts: the pin caps oneDNN at AVX2, which has no bfloat16 instructions,
and on this project's AMD CPU bfloat16 is what decodes Qwen2.5-Coder 2.8-3x faster than float32
(``qup bench engines``, docs/lab-notebook.md). A GPU's kernels and aarch64 are never pinned.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import yaml

CPU_PIN = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def pin_cpu_numerics() -> None:
    """Set ``CPU_PIN`` in this process's environment (and so its children's), on x86-64 only."""
    if platform.machine().lower() in {"x86_64", "amd64"}:
        os.environ.update(CPU_PIN)


def is_toy_study(params_file: Path) -> bool:
    """Whether ``params_file`` runs the toy world's SLM (also when it is missing or unreadable: the default study;
    the stage's own params check reports a broken file)."""
    try:
        params = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
        return (params.get("models") or {}).get("slm", {}).get("name", "toy") == "toy"
    except (OSError, yaml.YAMLError, AttributeError):
        return True
