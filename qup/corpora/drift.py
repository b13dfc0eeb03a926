"""How far a refinement moved from the SLM trace it started from."""

from __future__ import annotations

import os

from rapidfuzz.distance import Levenshtein


def edit_distance(source: str, refined: str) -> float:
    """Levenshtein distance normalised by the longer text: 0 identical, 1 nothing in common."""
    return Levenshtein.normalized_distance(source, refined)


def verbatim_prefix(source: str, refined: str) -> float:
    """The share of ``source`` that ``refined`` keeps verbatim before its first edit."""
    if not source:
        return 1.0
    return len(os.path.commonprefix([source, refined])) / len(source)
