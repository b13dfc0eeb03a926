"""Synthetic multi-step word problems whose computation is known exactly.

A problem starts from a quantity and applies 2 to 4 operations (add, subtract and, optionally,
multiply by a small factor). The computation is kept beside the text so that solutions can be
rendered in any style, mistakes injected on purpose, and answers checked exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass

NAMES = ["Tom", "Ana", "Lee", "Mia", "Sam", "Kai", "Zoe", "Ben", "Ivy", "Max", "Eva", "Leo"]
ITEMS = ["apples", "coins", "books", "stamps", "marbles", "cards", "shells", "pens"]

ADD_PHRASES = ["{Name} buys {n} more.", "{Name} finds {n} more.", "{Name} gets {n} more."]
SUB_PHRASES = ["{Name} gives away {n}.", "{Name} loses {n}.", "{Name} sells {n}."]
MUL_PHRASES = ["{Name} then has {n} times as many."]



@dataclass(frozen=True)
class Step:
    """One operation: ``left op right = result``."""

    op: str  # "+", "-" or "*"
    left: int
    right: int
    result: int


@dataclass(frozen=True)
class ToyProblem:
    """A generated word problem and its exact computation."""

    id: str
    question: str
    name: str
    item: str
    start: int
    steps: tuple[Step, ...]

    @property
    def answer(self) -> int:
        return self.steps[-1].result

    def computation_json(self) -> str:
        """The computation as JSON, stored beside the problem for later stages."""
        return json.dumps(
            {"name": self.name, "item": self.item, "start": self.start,
             "steps": [asdict(s) for s in self.steps]},
            sort_keys=True,
        )

    @classmethod
    def from_computation_json(cls, problem_id: str, question: str, text: str) -> ToyProblem:
        data = json.loads(text)
        steps = tuple(Step(**s) for s in data["steps"])
        return cls(problem_id, question, data["name"], data["item"], data["start"], steps)


def apply(op: str, left: int, right: int) -> int:
    """The value of ``left op right``."""
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    raise ValueError(f"unknown operation {op!r}")


def _next_step(rng: random.Random, value: int, allow_multiply: bool, max_value: int, max_operand: int) -> Step:
    ops = ["+", "-"] if value + 1 <= max_value else ["-"]
    if allow_multiply and value * 2 <= max_value:
        ops.append("*")
    if value <= 2:
        ops.remove("-")
    op = rng.choice(ops)
    if op == "+":
        right = rng.randint(1, min(max_operand, max_value - value))
    elif op == "-":
        right = rng.randint(1, min(max_operand, value - 1))
    else:
        right = rng.choice([k for k in (2, 3) if value * k <= max_value])
    return Step(op, value, right, apply(op, value, right))


def generate_problem(rng: random.Random, problem_id: str, *, min_steps: int = 2, max_steps: int = 4,
                     allow_multiply: bool = True, max_value: int = 40, max_operand: int = 9) -> ToyProblem:
    """Draw one problem from ``rng``: every quantity stays within 0..``max_value``."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    start = rng.randint(3, max(3, max_value // 2))
    steps: list[Step] = []
    value = start
    for _ in range(rng.randint(min_steps, max_steps)):
        step = _next_step(rng, value, allow_multiply, max_value, max_operand)
        steps.append(step)
        value = step.result
    sentences = [f"{name} has {start} {item}."]
    for step in steps:
        phrases = {"+": ADD_PHRASES, "-": SUB_PHRASES, "*": MUL_PHRASES}[step.op]
        sentences.append(rng.choice(phrases).format(Name=name, n=step.right, item=item))
    sentences.append(f"How many {item} now?")
    return ToyProblem(problem_id, " ".join(sentences), name, item, start, tuple(steps))


def draw_unseen_problem(rng: random.Random, toy, exclude: set[str], problem_id: str) -> ToyProblem:
    """A problem drawn from the world ``toy`` (a ``ToyParams``) whose question is not in ``exclude``."""
    while True:
        problem = generate_problem(rng, problem_id, min_steps=toy.min_steps, max_steps=toy.max_steps,
                                   allow_multiply=toy.allow_multiply, max_value=toy.max_value,
                                   max_operand=toy.max_operand)
        if problem.question not in exclude:
            return problem


def generate_problems(n: int, seed: int, *, min_steps: int = 2, max_steps: int = 4,
                      allow_multiply: bool = True, max_value: int = 40, max_operand: int = 9,
                      exclude: set[str] | None = None, prefix: str = "toy") -> list[ToyProblem]:
    """``n`` problems with distinct questions, the same for the same arguments."""
    if not 1 <= min_steps <= max_steps:
        raise ValueError(f"need 1 <= min_steps <= max_steps, got {min_steps} and {max_steps}")
    rng = random.Random(seed)
    seen = set(exclude or ())
    problems: list[ToyProblem] = []
    attempts = 0
    while len(problems) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise RuntimeError(f"could only draw {len(problems)} distinct toy problems of {n}")
        problem = generate_problem(rng, f"{prefix}-{len(problems):06d}", min_steps=min_steps,
                                   max_steps=max_steps, allow_multiply=allow_multiply, max_value=max_value,
                                   max_operand=max_operand)
        if problem.question in seen:
            continue
        seen.add(problem.question)
        problems.append(problem)
    return problems
