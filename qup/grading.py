"""Final-answer extraction and equivalence.

Plain numbers (integers, decimals, fractions, percentages, thousands separators) are compared
exactly by a fast path; everything else goes to math-verify.
"""

from __future__ import annotations

import re
from fractions import Fraction

_ANSWER_PATTERNS = [
    re.compile(r"####\s*(.+?)\s*$", re.MULTILINE),
    re.compile(r"[Tt]he (?:final )?answer is[:\s]*\$?(.+?)\$?\s*\.?\s*$", re.MULTILINE),
    re.compile(r"Answer:\s*\$?(.+?)\$?\s*\.?\s*$", re.MULTILINE),
]
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_PLAIN_NUMBER = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$|^-?\.\d+%?$")
_PLAIN_FRACTION = re.compile(r"^(-?\d+)\s*/\s*(\d+)$")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox``), nested braces included."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j].strip()
    return None


def extract_answer(text: str, *, last_number_fallback: bool = True) -> str | None:
    """The final answer stated in ``text``, or None when it states none."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    for pattern in _ANSWER_PATTERNS:
        matches = pattern.findall(text)
        if matches:
            return matches[-1].strip()
    if last_number_fallback:
        numbers = _NUMBER.findall(text)
        if numbers:
            return numbers[-1]
    return None


def as_plain_number(text: str) -> Fraction | None:
    """``text`` as an exact number when it is a plain number, fraction or percentage."""
    s = text.strip().strip("$").strip()
    for prefix in ("\\$",):
        s = s.removeprefix(prefix)
    if _PLAIN_NUMBER.match(s):
        percent = s.endswith("%")
        value = Fraction(s.rstrip("%").replace(",", ""))
        return value / 100 if percent else value
    match = _PLAIN_FRACTION.match(s)
    if match and int(match.group(2)) != 0:
        return Fraction(int(match.group(1)), int(match.group(2)))
    return None


def answers_match(predicted: str | None, gold: str) -> bool:
    """Whether ``predicted`` is mathematically equal to ``gold``."""
    if predicted is None or not predicted.strip():
        return False
    a, b = as_plain_number(predicted), as_plain_number(gold)
    if a is not None and b is not None:
        return a == b
    from math_verify import parse, verify

    return bool(verify(parse(f"${gold}$"), parse(f"${predicted}$")))


def is_correct(output: str, gold: str) -> bool:
    """Whether a model's full ``output`` ends in an answer equal to ``gold``."""
    return answers_match(extract_answer(output), gold)
