"""The toy world's Oracle: it knows each problem's computation, so it solves, rewrites and repairs exactly.

- ``synthesize``: a correct solution in the Oracle's own style.
- ``refine``: a minimal-intervention rewrite, as an LLM asked to "refine" writes one: the Oracle's
  frame (an opening, ``Step k:`` lines with units, a boxed closing) around the trace's own
  equations, repaired, in the trace's notation and operand order.
- ``style_align``: the SLM trace kept verbatim up to its first faulty step; that step repaired in
  the trace's own format, and what follows recomputed in that format.
- ``judge``: how much of the source trace's reasoning (its operations, in order) a rewrite keeps, 1-5.
Each raises ``ToyParseError`` when it cannot read the trace.
"""

from __future__ import annotations

import random

from qup.toy.parse import AnswerLine, Equation, ParsedTrace, operations, parse_trace, step_is_right
from qup.toy.styles import ORACLE_CLOSINGS, ORACLE_OPENINGS, render_oracle
from qup.toy.world import Step, ToyProblem

PLAIN_SYMBOLS = {"+": "+", "-": "-"}


def synthesize(problem: ToyProblem) -> str:
    return render_oracle(problem)


def _is_swapped(equation: Equation, step: Step) -> bool:
    return step.op in "+*" and equation.op == step.op and equation.left == step.right != step.left


def refine(problem: ToyProblem, trace: str) -> str:
    """The trace in the Oracle's frame with its own equations kept, repaired where they were wrong.

    Between the two other rewrites by construction: style alignment keeps every character it can,
    synthesis keeps nothing; a refinement keeps the equations as the SLM wrote them (its ``x`` or
    ``*``, its spacing, its operand order) and replaces what is around them. Its opening and
    closing are drawn from the question, apart from those of a synthesis of the same problem.
    """
    repaired = parse_trace(style_align(problem, trace)).equations
    rng = random.Random(f"refine:{problem.question}")
    opening = rng.choice(ORACLE_OPENINGS).format(name=problem.name, start=problem.start, item=problem.item)
    lines = [f"Step 1: {opening}"]
    for k, equation in enumerate(repaired, start=2):
        lines.append(f"Step {k}: {equation.expression} {problem.item}.")
    lines.append(rng.choice(ORACLE_CLOSINGS).format(answer=problem.answer))
    return "\n".join(lines)


def first_faulty_step(parsed: ParsedTrace, problem: ToyProblem) -> int | None:
    """The index of the trace's first wrong, missing or extra step; None when every step is right."""
    equations = parsed.equations
    for i, (equation, step) in enumerate(zip(equations, problem.steps)):
        if not step_is_right(equation, step):
            return i
    if len(equations) != len(problem.steps):
        return min(len(equations), len(problem.steps))
    return None


def _times_habit(parsed: ParsedTrace) -> str:
    """How the trace writes multiplication: the symbol it used, else what its layout suggests."""
    used = [eq.symbol for eq in parsed.equations if eq.op == "*"]
    if used:
        return used[0]
    return "\\times" if any("$" in eq.line for eq in parsed.equations) else "x"


def _rewrite(template: Equation, step: Step, times: str) -> str:
    """``step`` written in the format of ``template``: its connector, spacing, symbols and operand order."""
    symbol = template.symbol if template.op == step.op else PLAIN_SYMBOLS.get(step.op, times)
    left, right = (step.right, step.left) if _is_swapped(template, step) else (step.left, step.right)
    return template.with_numbers(left, symbol, right, step.result)


def style_align(problem: ToyProblem, trace: str) -> str:
    """The trace with only its faulty steps repaired, in its own format; unchanged when it is right."""
    parsed = parse_trace(trace)
    first_bad = first_faulty_step(parsed, problem)
    answer = parsed.answer
    if first_bad is None and answer is not None and answer.value == problem.answer:
        return trace
    times = _times_habit(parsed)
    steps = problem.steps
    out: list[str] = []
    written = 0
    last_template: Equation = parsed.equations[-1]

    def write_missing_steps() -> None:
        nonlocal written
        while written < len(steps):
            out.append(_rewrite(last_template, steps[written], times))
            written += 1

    answered = False
    for line in parsed.lines:
        if isinstance(line, Equation):
            if written >= len(steps):
                continue  # a step beyond the computation: dropped
            if first_bad is None or written < first_bad:
                out.append(line.line)
            else:
                out.append(_rewrite(line, steps[written], times))
            last_template = line
            written += 1
        elif isinstance(line, AnswerLine):
            if answered:
                continue
            write_missing_steps()
            out.append(line.with_value(problem.answer))
            answered = True
        else:
            out.append(line)
    write_missing_steps()
    if not answered:
        out.append(f"Answer: {problem.answer}")
    return "\n".join(out)


def kept_operations(problem: ToyProblem, source: str, rewrite: str) -> tuple[int, int]:
    """How many of the source trace's operations the rewrite keeps in order (longest common
    subsequence), and how many the source has."""
    a = operations(parse_trace(source), problem.start)
    b = operations(parse_trace(rewrite), problem.start)
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1], len(a)


def same_operations(problem: ToyProblem, source: str, rewrite: str) -> bool:
    """The exact check of semantic preservation: the rewrite performs the source's operations, in order."""
    kept, total = kept_operations(problem, source, rewrite)
    return kept == total == len(operations(parse_trace(rewrite), problem.start))


def judge(problem: ToyProblem, source: str, rewrite: str) -> str:
    """A judge's reply: a justification, then ``Score: N`` (1-5) for the share of operations kept."""
    kept, total = kept_operations(problem, source, rewrite)
    score = 1 + round(4 * kept / total)
    return f"The rewrite keeps {kept} of the source's {total} operations in order.\nScore: {score}"
