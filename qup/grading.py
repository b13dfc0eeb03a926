"""Final-answer extraction and equivalence.

math-verify decides equivalence. In front of it, a fast path settles plain numbers (integers,
decimals, fractions, percentages, thousands separators) with the same verdicts math-verify gives,
and leaves everything else (LaTeX, expressions, sets, text) to it. math-verify's timeouts use
SIGALRM, which only works in a main thread, so bulk grading runs in worker processes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from functools import lru_cache

_ANSWER_PATTERNS = [
    re.compile(r"####\s*(.+?)\s*$", re.MULTILINE),
    re.compile(r"[Tt]he (?:final )?answer is[:\s]*(.+?)\s*$", re.MULTILINE),
    re.compile(r"Answer:\s*(.+?)\s*$", re.MULTILINE),
]
_LAST_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_PLAIN_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_PLAIN_FRACTION = re.compile(r"(-?\d+)\s*/\s*(\d+)")
_LATEX_FRACTION = re.compile(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}")
# math-verify rounds floats to 6 places before comparing: nearer than this we let it decide.
_CLOSE = Fraction(1, 10**4)


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), nested braces included."""
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
    """The final answer stated in ``text`` (last ``\\boxed{}``, ``####``, "The answer is",
    "Answer:", then optionally the last number), or None when it states none."""
    if not text:
        return None
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed or None
    for pattern in _ANSWER_PATTERNS:
        matches = pattern.findall(text)
        if matches:
            answer = matches[-1].strip().rstrip(".").strip()
            return answer or None
    if last_number_fallback:
        numbers = _LAST_NUMBER.findall(text)
        if numbers:
            return numbers[-1].rstrip(",")
    return None


def _strip(answer: str) -> str:
    s = answer.strip()
    while s.startswith("$") and s.endswith("$") and len(s) > 1:
        s = s[1:-1].strip()
    return s.rstrip(".").strip()


@lru_cache(maxsize=65536)
def plain_number(answer: str) -> tuple[Fraction, bool] | None:
    """``(value, is_percentage)`` when ``answer`` is a plain number, fraction or percentage."""
    s = _strip(answer)
    percent = s.endswith("%") and not s.endswith("\\%")
    if percent:
        s = s[:-1].strip()
    if _PLAIN_NUMBER.fullmatch(s):
        return Fraction(s.replace(",", "")), percent
    if match := _PLAIN_FRACTION.fullmatch(s):
        num, den = int(match.group(1)), int(match.group(2))
    elif match := _LATEX_FRACTION.fullmatch(s):
        num, den = int(match.group(1) + match.group(2)), int(match.group(3))
    else:
        return None
    return (Fraction(num, den), percent) if den else None


def fast_verdict(predicted: str, gold: str) -> bool | None:
    """math-verify's verdict on two plain numbers, or None when the fast path cannot tell."""
    a, b = plain_number(predicted), plain_number(gold)
    if a is None or b is None:
        return None
    (x, x_pct), (y, y_pct) = a, b
    xs = {x, x / 100} if x_pct else {x}  # math-verify accepts a percentage either way
    ys = {y, y / 100} if y_pct else {y}
    if xs & ys:
        return True
    if all(abs(u - v) > _CLOSE * max(1, abs(v)) for u in xs for v in ys):
        return False
    return None


@lru_cache(maxsize=65536)
def _parse(answer: str):
    from math_verify import parse

    return parse(f"${answer}$")


def verify_with_math_verify(predicted: str, gold: str) -> bool:
    """math-verify alone on two extracted answers (both wrapped in ``$...$``)."""
    from math_verify import verify

    return bool(verify(_parse(gold), _parse(predicted)))


def answers_match(predicted: str | None, gold: str) -> bool:
    """Whether ``predicted`` is mathematically equal to ``gold``."""
    if predicted is None or not predicted.strip():
        return False
    verdict = fast_verdict(predicted, gold)
    if verdict is not None:
        return verdict
    return verify_with_math_verify(_strip(predicted), _strip(gold))


_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "billion half halves third thirds quarter quarters a and point minus negative".split())


def gold_problem(gold: str) -> str | None:
    """Why ``gold`` cannot serve as a gold answer, or None when the grader can compare answers to it.

    A number written in words (``five``) is the trap: math-verify reads it as a product of symbols
    (f*i*v*E), so the right answer, 5, never matches it. Other text (``\\text{Monday}``, ``CD``)
    and algebra (``2xy + 1``) grade by comparison and stay.
    """
    text = _strip(gold)
    if plain_number(text) is not None:
        return None
    words = re.split(r"[\s\-,]+", text.lower().strip(" .!"))
    if words and all(w in _NUMBER_WORDS for w in words) and set(words) - {"a", "and", "point"}:
        return "a number written in words, which the grader reads as symbols: write it in digits"
    if not _parse(text):
        return "math-verify cannot parse it"
    return None


def vote_key(answer: str | None) -> str | None:
    """The form in which an extracted answer votes in maj@k: a plain number by its value ("12",
    "12.0" and "$12$" vote together), anything else by its text without $ signs and a final period."""
    if answer is None or not answer.strip():
        return None
    number = plain_number(answer)
    if number is not None:
        value, percent = number
        return f"{value}%" if percent else str(value)
    return _strip(answer)


def is_correct(output: str, gold: str) -> bool:
    """Whether a model's full ``output`` ends in an answer equal to ``gold``."""
    return answers_match(extract_answer(output), gold)


def _verify_chunk(pairs: Sequence[tuple[str, str]]) -> list[bool]:
    return [verify_with_math_verify(_strip(answer), _strip(gold)) for answer, gold in pairs]


def cores() -> int:
    """How many CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_MIN_CHUNK = 16  # fewer pairs than this per worker are not worth a worker


def _verify_all(pairs: list[tuple[str, str]], workers: int, chunk: int) -> list[bool]:
    """math-verify's verdicts on ``pairs``, in up to ``workers`` processes. Chunks hold at most
    ``chunk`` pairs and are small enough that each worker takes several, so the work stays balanced."""
    size = max(_MIN_CHUNK, min(chunk, -(-len(pairs) // (4 * workers))))
    chunks = [pairs[i:i + size] for i in range(0, len(pairs), size)]
    if workers < 2 or len(chunks) < 2:
        return _verify_chunk(pairs)
    import math_verify  # noqa: F401  imported here once: forked workers inherit it instead of each importing it

    with ProcessPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
        return [v for part in pool.map(_verify_chunk, chunks) for v in part]


def grade_many(pairs: Iterable[tuple[str, str]], *, workers: int | None = None, chunk: int = 256) -> list[bool]:
    """Grade ``(output, gold)`` pairs. The fast path settles plain numbers here; each distinct
    (answer, gold) pair it cannot settle goes to math-verify once, in worker processes (by default
    one per core)."""
    answers = [(extract_answer(output), gold) for output, gold in pairs]
    verdicts: dict[tuple[str, str], bool | None] = {}
    for answer, gold in answers:
        if answer is not None and answer.strip() and (answer, gold) not in verdicts:
            verdicts[(answer, gold)] = fast_verdict(answer, gold)
    slow = [pair for pair, verdict in verdicts.items() if verdict is None]
    verdicts.update(zip(slow, _verify_all(slow, workers or cores(), chunk)))
    return [bool(answer is not None and answer.strip() and verdicts[(answer, gold)]) for answer, gold in answers]
