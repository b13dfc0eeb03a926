"""The toy world as a problem source."""

from __future__ import annotations

from qup.config import ToyParams
from qup.toy.styles import render_textbook
from qup.toy.world import generate_problems


def toy_rows(n: int, seed: int, toy: ToyParams):
    """``n`` toy problems as raw rows: a textbook-style reference solution, the computation in ``meta``."""
    problems = generate_problems(n, seed, min_steps=toy.min_steps, max_steps=toy.max_steps,
                                 allow_multiply=toy.allow_multiply, max_value=toy.max_value,
                                 max_operand=toy.max_operand)
    return [
        (i, {"id": p.id, "question": p.question, "answer": str(p.answer), "solution": render_textbook(p),
             "meta": p.computation_json()})
        for i, p in enumerate(problems, start=1)
    ]
