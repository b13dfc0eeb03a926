"""Written styles of the same logic, and the mistake injector.

*Native* is the terse style the tiny SLM learns, with varied spacing, operand order and
connectors so that a model's own correct traces differ from any one canonical rendering.
*Oracle* is the verbose style of a strong model: ``Step k:`` lines, LaTeX-ish maths, ``\\boxed{}``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from qup.toy.world import Step, ToyProblem, apply

# the Oracle's phrasings: a strong model words the same step in more than one way
ORACLE_OPENINGS = ["{name} starts with {start} {item}.", "At first, {name} has {start} {item}.",
                   "Initially there are {start} {item}."]
ORACLE_VERBS = {"+": ["Then adding {n} gives", "After getting {n} more, the total is", "Adding {n} more yields"],
                "-": ["Then taking away {n} leaves", "After removing {n}, what remains is", "Subtracting {n} leaves"],
                "*": ["Then multiplying by {n} gives", "Scaling by a factor of {n} gives", "Multiplying by {n} yields"]}
ORACLE_CLOSINGS = ["Therefore, the final answer is $\\boxed{{{answer}}}$.",
                   "Hence the answer is $\\boxed{{{answer}}}$.",
                   "So, the final answer is $\\boxed{{{answer}}}$."]
# other strong models' phrasings, in the same format: what a small model's pretraining holds of the genre
RELATED_OPENINGS = ["We begin with {start} {item} for {name}.", "{name} holds {start} {item} to begin.",
                    "The count begins at {start} {item}."]
RELATED_VERBS = {"+": ["Next, including {n} more makes", "With {n} added, the count becomes",
                       "Increasing by {n} makes"],
                 "-": ["Next, dropping {n} makes", "With {n} gone, the count becomes", "Decreasing by {n} makes"],
                 "*": ["Next, taking {n} times as many makes", "With a factor of {n}, the count becomes",
                       "Growing {n}-fold makes"]}
RELATED_CLOSINGS = ["Thus we get $\\boxed{{{answer}}}$.", "The result is $\\boxed{{{answer}}}$.",
                    "In the end we have $\\boxed{{{answer}}}$."]


@dataclass(frozen=True)
class Phrasebook:
    """The phrasings of one writer of the verbose style: openings, a verb per operation, closings."""

    openings: list[str]
    verbs: dict[str, list[str]]
    closings: list[str]


ORACLE_PHRASEBOOK = Phrasebook(ORACLE_OPENINGS, ORACLE_VERBS, ORACLE_CLOSINGS)


def slm_phrasebook(oracle_phrases_seen: int) -> Phrasebook:
    """What the SLM's Oracle-style training text is written with: the first ``oracle_phrases_seen`` of
    the Oracle's phrasings in each slot, the rest another strong model's (0: its format only, 3: its words)."""
    def mix(own: list[str], related: list[str]) -> list[str]:
        return own[:oracle_phrases_seen] + related[oracle_phrases_seen:]

    return Phrasebook(mix(ORACLE_OPENINGS, RELATED_OPENINGS),
                      {op: mix(ORACLE_VERBS[op], RELATED_VERBS[op]) for op in ORACLE_VERBS},
                      mix(ORACLE_CLOSINGS, RELATED_CLOSINGS))


ORACLE_SYMBOLS = {"+": "+", "-": "-", "*": "\\times"}


@dataclass(frozen=True)
class Mistake:
    """Where a trace went wrong on purpose, and how."""

    step: int  # 0-based index of the faulty step
    kind: str  # "arithmetic" or "operand"


def render_native(problem: ToyProblem, rng: random.Random, steps: tuple[Step, ...] | None = None) -> str:
    """A terse solution; ``steps`` overrides the problem's own (for faulty traces).

    Wording varies (connectors, the multiplication sign, the closing line); the layout of an
    equation does not: the carried quantity first, then the number the step brings in. Swapping
    operands at random halved the tiny SLM's greedy accuracy (0.52 -> 0.26): it must find the
    next number of the question, and a fixed order tells it where to look.
    """
    steps = problem.steps if steps is None else steps
    times = rng.choice(["*", "x"])
    connector = rng.choice(["", "", "then ", "so "])
    lines = []
    for i, step in enumerate(steps):
        symbol = times if step.op == "*" else step.op
        expr = f"{step.left} {symbol} {step.right} = {step.result}"
        lines.append((connector if i else "") + expr)
    answer = steps[-1].result
    if rng.random() < 0.5:
        lines.append(f"Answer: {answer}")
    else:
        lines.append(f"The answer is {answer}.")
    return "\n".join(lines)


def render_oracle(problem: ToyProblem, steps: tuple[Step, ...] | None = None,
                  swapped: frozenset[int] = frozenset(), rng: random.Random | None = None,
                  phrasebook: Phrasebook = ORACLE_PHRASEBOOK) -> str:
    """A verbose solution in the Oracle's style: ``Step k:`` lines, ``$a + b = c$``, ``\\boxed{}``.

    Its phrasing is drawn from ``phrasebook`` with ``rng``, by default one seeded by the question, so
    the same problem always reads the same (as from an Oracle decoding greedily) while different
    problems vary. Steps in ``swapped`` write their operands in reverse.
    """
    steps = problem.steps if steps is None else steps
    rng = rng or random.Random(problem.question)
    opening = rng.choice(phrasebook.openings).format(name=problem.name, start=problem.start, item=problem.item)
    lines = [f"Step 1: {opening}"]
    for k, step in enumerate(steps, start=2):
        verb = rng.choice(phrasebook.verbs[step.op]).format(n=step.right)
        symbol = ORACLE_SYMBOLS[step.op]
        left, right = (step.right, step.left) if k - 2 in swapped else (step.left, step.right)
        lines.append(f"Step {k}: {verb} ${left} {symbol} {right} = {step.result}$ {problem.item}.")
    lines.append(rng.choice(phrasebook.closings).format(answer=steps[-1].result))
    return "\n".join(lines)


TEXTBOOK_PHRASES = {"+": "After {n} more, {name} has", "-": "After {n} fewer, {name} has",
                    "*": "After growing {n}-fold, {name} has"}


def render_textbook(problem: ToyProblem, steps: tuple[Step, ...] | None = None) -> str:
    """The problem's reference solution, in a third style: a textbook's worked answer ending in ``#### N``."""
    steps = problem.steps if steps is None else steps
    lines = [f"{problem.name} starts with {problem.start} {problem.item}."]
    for step in steps:
        phrase = TEXTBOOK_PHRASES[step.op].format(n=step.right, name=problem.name)
        lines.append(f"{phrase} {step.left} {step.op} {step.right} = {step.result} {problem.item}.")
    lines.append(f"#### {steps[-1].result}")
    return "\n".join(lines)


MISTAKE_KINDS = ("arithmetic", "operand")


def inject_mistake(problem: ToyProblem, rng: random.Random,
                   kinds: tuple[str, ...] | list[str] = MISTAKE_KINDS) -> tuple[tuple[Step, ...], Mistake]:
    """The problem's steps with one error, carried consistently through the steps after it.

    ``arithmetic`` gets one result wrong; ``operand`` copies a wrong number into a step.
    """
    steps = list(problem.steps)
    index = rng.randrange(len(steps))
    kind = rng.choice(list(kinds))
    step = steps[index]
    if kind == "arithmetic":
        delta = rng.choice([-1, 1]) * rng.randint(1, 10)
        if step.result + delta == step.result or step.result + delta < 0:
            delta = abs(delta)
        steps[index] = replace(step, result=step.result + delta)
    else:
        numbers = {problem.start, *(s.right for s in problem.steps)} - {step.right}
        if not numbers:
            numbers = {step.right + 1}
        wrong = rng.choice(sorted(numbers))
        if step.op == "*" and wrong > 3:
            wrong = 2 if step.right != 2 else 3
        steps[index] = replace(step, right=wrong, result=apply(step.op, step.left, wrong))
    value = steps[index].result
    for later in range(index + 1, len(steps)):
        s = steps[later]
        steps[later] = replace(s, left=value, result=apply(s.op, value, s.right))
        value = steps[later].result
    if value == problem.answer:  # the error cancelled out: make it visible in the result
        last = steps[-1]
        steps[-1] = replace(last, result=last.result + 1)
    return tuple(steps), Mistake(index, kind)
