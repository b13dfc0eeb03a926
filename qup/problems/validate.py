"""Normalise raw rows of any shape to the problem schema, rejecting bad rows with reasons.

A raw row is ``(row_number, record)`` or ``(row_number, record, file)`` where ``record`` is a dict, or a ``RowError``
for a row that could not even be read (a line that is not valid JSON, say).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from qup.grading import gold_problem, last_boxed, plain_number

SHAPES = ("gsm8k", "math", "columns")
DEFAULT_COLUMNS = {"id": "id", "question": "question", "answer": "answer", "solution": "solution",
                   "level": "level", "type": "type"}
SHAPE_COLUMNS = {
    "gsm8k": {"id": "id", "question": "question", "answer": "answer"},
    "math": {"id": "id", "question": "problem", "solution": "solution", "level": "level",
             "type": "type"},
}
_GSM8K_ANSWER = re.compile(r"####\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class RowError:
    """A row that could not be read at all."""

    reason: str
    field: str | None = None
    kind: str = "unreadable row"


@dataclass
class Validated:
    """Accepted problems and rejected rows of one source."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rejected_share(self) -> float:
        total = len(self.accepted) + len(self.rejected)
        return len(self.rejected) / total if total else 0.0


class Rejection(Exception):
    """One row's problem: its ``kind`` (a fixed label to count by), the reason in full, and the field at fault."""

    def __init__(self, kind: str, reason: str, field_name: str | None = None):
        super().__init__(reason)
        self.kind, self.reason, self.field = kind, reason, field_name


def reason_counts(rejected: list[dict[str, Any]]) -> Counter:
    """How many rejected rows fell for each kind of reason."""
    return Counter(r["kind"] for r in rejected)


def normalise_question(text: str) -> str:
    """The form under which two questions count as duplicates: collapsed whitespace, lower case."""
    return " ".join(text.split()).lower()


def clean_gold(text: str) -> str:
    """A gold answer without surrounding space, ``$`` and thousands separators in plain numbers."""
    text = text.strip().strip("$").strip().rstrip(".").strip()
    if plain_number(text) is not None:
        text = text.replace(",", "")
    return text


def gold_from_text(text: str) -> str | None:
    """The gold answer written in a solution or answer field (``#### N``, ``\\boxed{}``)."""
    match = _GSM8K_ANSWER.search(text)
    if match:
        return clean_gold(match.group(1)) or None
    boxed = last_boxed(text)
    if boxed is not None:
        return clean_gold(boxed) or None
    return None


def _text(record: dict[str, Any], column: str | None, name: str, *, required: bool) -> str | None:
    if column is None or column not in record or record[column] is None:
        if required:
            raise Rejection("missing field", f"missing field '{column or name}'", name)
        return None
    value = record[column]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Rejection("not text", f"field '{column}' must be text, got {type(value).__name__}", name)
    if isinstance(value, (int, float)) and name not in ("answer", "id", "level"):
        raise Rejection("not text", f"field '{column}' must be text, got {type(value).__name__}", name)
    return str(value)


def _normalise(record: dict[str, Any], shape: str, columns: dict[str, str], max_chars: int,
               max_solution_chars: int) -> dict:
    cols = {**(DEFAULT_COLUMNS if shape == "columns" else SHAPE_COLUMNS[shape]), **columns}
    question = _text(record, cols.get("question"), "question", required=True)
    if not question.strip():
        raise Rejection("empty question", "empty question", "question")
    solution = _text(record, cols.get("solution"), "solution", required=shape == "math")
    raw_answer = _text(record, cols.get("answer"), "answer", required=shape == "gsm8k")
    if shape == "gsm8k":
        match = _GSM8K_ANSWER.search(raw_answer)
        if not match or not match.group(1).strip():
            raise Rejection("unparseable gold answer", "unparseable gold answer: no '#### <answer>' in field 'answer'",
                            "answer")
        solution = raw_answer[: match.start()].strip() or None
        answer = clean_gold(match.group(1))
    elif raw_answer is not None and raw_answer.strip():
        answer = gold_from_text(raw_answer) or clean_gold(raw_answer)
    elif solution is not None:
        answer = gold_from_text(solution)
        if answer is None:
            raise Rejection("unparseable gold answer",
                            "unparseable gold answer: no \\boxed{} or '####' in the solution", "solution")
    else:
        raise Rejection("missing gold answer", "missing gold answer: neither an answer nor a solution field", "answer")
    if not answer:
        raise Rejection("missing gold answer", "missing gold answer", "answer")
    problem = gold_problem(answer)
    if problem is not None:
        raise Rejection("ungradable gold answer", f"ungradable gold answer {answer!r}: {problem}",
                        "answer" if shape != "math" else "solution")
    for name, text, limit in (("question", question, max_chars), ("solution", solution, max_solution_chars)):
        if text is not None and len(text) > limit:
            raise Rejection(f"{name} too long", f"{name} is {len(text)} characters, over the limit of {limit}", name)
    raw_id = _text(record, cols.get("id"), "id", required=False)
    return {
        "id": raw_id.strip() if raw_id is not None and raw_id.strip() else None,
        "question": question.strip(),
        "answer": answer,
        "solution": solution.strip() if solution else None,
        "level": _text(record, cols.get("level"), "level", required=False),
        "type": _text(record, cols.get("type"), "type", required=False),
        "meta": record.get("meta") if isinstance(record.get("meta"), str) else None,
        "split": record.get("split") if isinstance(record.get("split"), str) else None,
    }


def validate_rows(rows, *, source: str, file: str, shape: str = "columns",
                  columns: dict[str, str] | None = None, max_chars: int = 4000,
                  max_solution_chars: int = 16000) -> Validated:
    """Check every raw row; the first occurrence of a duplicate id or question stays."""
    if shape not in SHAPES:
        raise ValueError(f"unknown problem shape {shape!r}; choose one of {', '.join(SHAPES)}")
    result = Validated()
    seen_ids: dict[str, int] = {}
    seen_questions: dict[str, int] = {}
    for row, record, *origin in rows:
        rejected = {"file": origin[0] if origin else file, "row": row, "id": None}
        if isinstance(record, RowError):
            result.rejected.append({**rejected, "field": record.field, "reason": record.reason, "kind": record.kind})
            continue
        try:
            problem = _normalise(record, shape, columns or {}, max_chars, max_solution_chars)
            rejected["id"] = problem["id"]
            if problem["id"] is not None and problem["id"] in seen_ids:
                raise Rejection("duplicate id",
                                f"duplicate id '{problem['id']}' (first seen at row {seen_ids[problem['id']]})", "id")
            key = normalise_question(problem["question"])
            if key in seen_questions:
                raise Rejection("duplicate question", f"duplicate question (same as row {seen_questions[key]})",
                                "question")
        except Rejection as err:
            result.rejected.append({**rejected, "field": err.field, "reason": err.reason, "kind": err.kind})
            continue
        if problem["id"] is not None:
            seen_ids[problem["id"]] = row
        seen_questions[key] = row
        problem["id"] = problem["id"] or f"{source}-{row:06d}"
        problem["source"] = source
        result.accepted.append(problem)
    return result
