"""The toy world's exact check on a corpus row: did a rewrite keep its source trace's operations?"""

from __future__ import annotations

from qup.toy.oracle import same_operations
from qup.toy.parse import ToyParseError
from qup.toy.world import ToyProblem


def _toy_problem(row: dict) -> ToyProblem | None:
    try:
        return ToyProblem.from_computation_json(row["problem_id"], row["question"], row["meta"])
    except (TypeError, KeyError, ValueError):
        return None


def row_same_operations(row: dict) -> bool | None:
    """``same_operations`` of the row's ``source_response`` and ``response``; None when the row's
    ``meta`` holds no toy computation or there is no source to compare with."""
    problem = _toy_problem(row)
    if problem is None or row["source_response"] is None:
        return None
    try:
        return same_operations(problem, row["source_response"], row["response"])
    except ToyParseError:
        return False if row["source_response"] else None
