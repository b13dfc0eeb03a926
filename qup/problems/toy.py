"""The toy world as a problem source."""

from __future__ import annotations

from qup.toy.world import generate_problems


def toy_rows(n: int, seed: int, *, min_steps: int, max_steps: int, allow_multiply: bool):
    """``n`` toy problems as raw rows, their computation kept in ``meta``."""
    problems = generate_problems(n, seed, min_steps=min_steps, max_steps=max_steps,
                                 allow_multiply=allow_multiply)
    return [
        (i, {"id": p.id, "question": p.question, "answer": str(p.answer), "meta": p.computation_json()})
        for i, p in enumerate(problems, start=1)
    ]
