"""Style distance of a corpus to the SLM's own samples: length ratio and n-gram divergence."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

_WORD = re.compile(r"\w+|[^\w\s]")


def ngrams(texts: Iterable[str], n: int, unit: str) -> Counter:
    """Counts of character or word ``n``-grams over ``texts``."""
    counts: Counter = Counter()
    for text in texts:
        pieces = list(text) if unit == "char" else _WORD.findall(text)
        counts.update(tuple(pieces[i:i + n]) for i in range(len(pieces) - n + 1))
    return counts


def js_divergence(p: Counter, q: Counter) -> float:
    """Jensen-Shannon divergence (base 2, so within 0..1) of two count distributions."""
    p_total, q_total = sum(p.values()), sum(q.values())
    if not p_total or not q_total:
        return float("nan")
    divergence = 0.0
    for key in sorted(p.keys() | q.keys()):  # a fixed order: a set's follows the hash seed, and so would the sum
        a, b = p.get(key, 0) / p_total, q.get(key, 0) / q_total
        m = (a + b) / 2
        if a:
            divergence += 0.5 * a * math.log2(a / m)
        if b:
            divergence += 0.5 * b * math.log2(b / m)
    return max(0.0, min(1.0, divergence))


STYLE_MEASURES = {"char3_jsd": (3, "char"), "word1_jsd": (1, "word"), "word2_jsd": (2, "word")}


def style_distance(texts: list[str], reference: list[str]) -> dict[str, float]:
    """How far ``texts`` sit from ``reference`` (the SLM's own samples): length ratio and divergences."""
    out = {"length_ratio": (sum(map(len, texts)) / len(texts)) / (sum(map(len, reference)) / len(reference))
           if texts and reference else float("nan")}
    for name, (n, unit) in STYLE_MEASURES.items():
        out[name] = js_divergence(ngrams(texts, n, unit), ngrams(reference, n, unit))
    return out
