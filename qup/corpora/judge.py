"""Reading a 1-5 score out of a judge's free-form reply."""

from __future__ import annotations

import re

_SCORE = r"([1-5](?:\.\d+)?)"
# a fraction inside arithmetic ("2/5 * 40", "= 3/5", "3/5 of 60") is no score: SmolLM2 quotes the solutions it
# judges, and their fractions would otherwise read as one
_NOT_AFTER_AN_OPERATOR = r"(?<![\d.*×÷+\-=/^])(?<![*×÷+=/^]\s)"
_NOT_BEFORE_AN_OPERAND = r"(?!\s*(?:[*×÷+\-=^/(\d]|\.\d|of\b))"
_PATTERNS = [
    # Score: 4, **Score**: 4/5
    re.compile(rf"score\W{{0,4}}(?:is\W{{0,3}})?{_SCORE}(?!\d)(?:\s*/\s*5)?", re.IGNORECASE),
    re.compile(rf"\\boxed\{{\s*{_SCORE}\s*\}}"),
    # 4/5, 4 out of 5
    re.compile(rf"{_NOT_AFTER_AN_OPERATOR}{_SCORE}\s*(?:/|out of)\s*5\b{_NOT_BEFORE_AN_OPERAND}", re.IGNORECASE),
    re.compile(rf"rating\W{{0,4}}(?:is\W{{0,3}})?{_SCORE}(?!\d)", re.IGNORECASE),
]
_BARE = re.compile(rf"\W*{_SCORE}\W*")


def parse_judge_score(reply: str | None) -> float | None:
    """The score a judge gave (its last stated one), or None when it states none in 1-5."""
    if not reply:
        return None
    for pattern in _PATTERNS:
        found = pattern.findall(reply)
        if found:
            return float(found[-1])
    bare = _BARE.fullmatch(reply.strip())
    return float(bare[1]) if bare else None
