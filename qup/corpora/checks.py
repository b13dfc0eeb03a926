"""Trace checks: per world, an exact check that a refinement kept the operations of its source trace.

A check reads a kept attempt (``problem_id``, ``question``, ``meta``, ``source_response``,
``response``) and answers True or False, or None when the problem is not of its world (its ``meta``
holds no computation the world can read) or there is no source to compare with. A world's code is
imported inside its check, when a corpus is built, so that nothing else loads it.
"""

from __future__ import annotations

from collections.abc import Callable

TraceCheck = Callable[[dict], bool | None]


def _toy(row: dict) -> bool | None:
    from qup.toy.checks import row_same_operations

    return row_same_operations(row)


TRACE_CHECKS: dict[str, TraceCheck] = {"toy": _toy}


def same_operations(row: dict) -> bool | None:
    """The verdict of the first world whose check can tell, or None when none can."""
    for check in TRACE_CHECKS.values():
        verdict = check(row)
        if verdict is not None:
            return verdict
    return None
