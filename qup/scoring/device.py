"""Where the in-process scorers (the SLM's NLL, hf reward models) run: params ``scoring.device``, or, when it is
None, as training does: cuda when available, else cpu."""

from __future__ import annotations

import torch


def scoring_device(device: str | None = None) -> str:
    """``device``, or cuda when available, else cpu."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")
