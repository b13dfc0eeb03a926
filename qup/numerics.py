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


def is_x86_64() -> bool:
    """Whether this machine is x86-64, where ``CPU_PIN`` and the bfloat16 check apply."""
    return platform.machine().lower() in {"x86_64", "amd64"}


def pin_cpu_numerics() -> None:
    """Set ``CPU_PIN`` in this process's environment (and so its children's), on x86-64 only."""
    if is_x86_64():
        os.environ.update(CPU_PIN)


def is_toy_study(params_file: Path) -> bool:
    """Whether ``params_file`` runs the toy world's SLM (also when it is missing or unreadable: the default study;
    the stage's own params check reports a broken file)."""
    try:
        params = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
        return (params.get("models") or {}).get("slm", {}).get("name", "toy") == "toy"
    except (OSError, yaml.YAMLError, AttributeError):
        return True


def cpu_flags() -> set[str]:
    """This CPU's feature flags as Linux reports them (empty where /proc/cpuinfo is not there to read)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")),
                set())


def slow_bfloat16_warning(what: str) -> str | None:
    """A warning for ``what`` computing in bfloat16 on an x86-64 CPU with no bfloat16 instructions (AVX512_BF16,
    AMX-BF16), where torch emulates them; None where the CPU has them or cannot be read."""
    flags = cpu_flags()
    if not flags or not is_x86_64() or flags & {"avx512_bf16", "amx_bf16"}:
        return None
    return (f"{what}: bfloat16 on a CPU without bfloat16 instructions (no avx512_bf16 or amx_bf16 in "
            f"/proc/cpuinfo) is emulated and slower than float32 (0.72x on an AVX2-only AMD EPYC, against 2.8x "
            f"with AVX512_BF16: docs/real-models.md): set its dtype to float32 on this machine")
