"""Thin DVC stage entry points: ``main(params, [name])`` -> qup calls -> outputs.

Each module reads params.yaml only under ``__main__``, so tests call ``main`` with params they build.
In a log (stderr not a terminal), the libraries' own progress bars (weight loading, dataset maps)
are turned off, as qup's are turned into plain lines (``qup.progress``). In the toy world, CPU
numerics are pinned to one instruction set before any stage imports torch (``qup.numerics``), so a
stage computes the same bits on any x86-64 CPU; a real model keeps its CPU's fastest kernels.
"""

import os
import sys
from pathlib import Path

from qup.numerics import is_toy_study, pin_cpu_numerics

if is_toy_study(Path("params.yaml")):  # the stages run in the project's root, where DVC keeps params.yaml
    pin_cpu_numerics()

if not sys.stderr.isatty():
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers follows huggingface_hub's switch
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
