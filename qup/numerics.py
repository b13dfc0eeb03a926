"""CPU numerics pinned to one instruction set, so the same code trains the same bits on any x86-64 CPU.

Torch's vector kernels (ATen), MKL and oneDNN each choose a code path by the CPU's instruction set,
and their float sums run in a different order on each path. Each library reads its variable once,
at first use, so ``pin_cpu_numerics`` runs before torch is imported (``stages/__init__.py``), and it
overrides the environment's values: the pin, not the machine, decides. The pin costs the toy SLM's
training a few per cent of its speed (4% measured, scripts/isa_probe.py). It leaves a GPU's kernels
and other architectures (aarch64) as they are.
"""

from __future__ import annotations

import os
import platform

CPU_PIN = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def pin_cpu_numerics() -> None:
    """Set ``CPU_PIN`` in this process's environment (and so its children's), on x86-64 only."""
    if platform.machine().lower() in {"x86_64", "amd64"}:
        os.environ.update(CPU_PIN)
