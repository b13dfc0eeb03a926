"""Thin DVC stage entry points: ``main(params, [name])`` -> qup calls -> outputs.

Each module reads params.yaml only under ``__main__``, so tests call ``main`` with params they build.
In a log (stderr not a terminal), the libraries' own progress bars (weight loading, dataset maps)
are turned off, as qup's are turned into plain lines (``qup.progress``).
"""

import os
import sys

if not sys.stderr.isatty():
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers follows huggingface_hub's switch
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
