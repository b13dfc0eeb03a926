"""Reading toy-world text back: questions into their computation, solutions into steps.

The symbolic Oracle works from these: it parses a question to know the problem's computation
exactly, and an SLM trace (native or Oracle style, possibly malformed) into the equations it
wrote, with the character spans of each number so a repair can keep everything else verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qup.toy.world import ADD_PHRASES, MUL_PHRASES, SUB_PHRASES, Step, ToyProblem, apply


class ToyParseError(ValueError):
    """Text that is not a toy-world question, or a trace the symbolic Oracle cannot read."""


def _phrase_pattern(phrase: str) -> str:
    return re.escape(phrase).replace(re.escape("{Name}"), r"(?P<name>\w+)").replace(re.escape("{n}"), r"(?P<n>\d+)")


_OPENING = re.compile(r"(?P<name>\w+) has (?P<start>\d+) (?P<item>\w+)\.")
_CLOSING = re.compile(r"How many (?P<item>\w+) now\?")
_PHRASES = [(op, re.compile(_phrase_pattern(p))) for op, phrases in (("+", ADD_PHRASES), ("-", SUB_PHRASES),
                                                                     ("*", MUL_PHRASES)) for p in phrases]


def parse_question(question: str, problem_id: str = "") -> ToyProblem:
    """The problem a toy-world question states, computation included."""
    sentences = re.findall(r"[^.?]+[.?]", question.strip())
    sentences = [s.strip() for s in sentences]
    if len(sentences) < 3:
        raise ToyParseError(f"not a toy-world question: {question[:80]!r}")
    opening, closing = _OPENING.fullmatch(sentences[0]), _CLOSING.fullmatch(sentences[-1])
    if not opening or not closing or closing["item"] != opening["item"]:
        raise ToyParseError(f"not a toy-world question: {question[:80]!r}")
    value = start = int(opening["start"])
    steps = []
    for sentence in sentences[1:-1]:
        match = next(((op, m) for op, pattern in _PHRASES if (m := pattern.fullmatch(sentence))), None)
        if match is None:
            raise ToyParseError(f"not a toy-world question: cannot read {sentence!r}")
        op, m = match
        right = int(m["n"])
        steps.append(Step(op, value, right, apply(op, value, right)))
        value = steps[-1].result
    return ToyProblem(problem_id, question, opening["name"], opening["item"], start, tuple(steps))


NUMBER = r"-?\d+"
_EQUATION = re.compile(
    rf"(?P<left>{NUMBER})(?P<gap1>\s*)(?P<symbol>\\times|\\cdot|[+\-*x])(?P<gap2>\s*)(?P<right>{NUMBER})"
    rf"\s*=\s*(?P<result>{NUMBER})"
)
_SYMBOL_OPS = {"+": "+", "-": "-", "*": "*", "x": "*", "\\times": "*", "\\cdot": "*"}
_ANSWER = re.compile(
    rf"(?:\\boxed\{{\s*(?P<boxed>{NUMBER})\s*\}}|[Aa]nswer(?: is)?:?\s*(?P<plain>{NUMBER})|####\s*(?P<hash>{NUMBER}))"
)


@dataclass(frozen=True)
class Equation:
    """One written step ``left symbol right = result`` inside ``line``, with the spans of its parts."""

    line: str
    symbol: str
    left: int
    right: int
    result: int
    spans: dict[str, tuple[int, int]]

    @property
    def op(self) -> str:
        return _SYMBOL_OPS[self.symbol]

    @property
    def expression(self) -> str:
        """The equation as written, without the words around it: ``12 x 2 = 24``."""
        return self.line[self.spans["left"][0]:self.spans["result"][1]]

    def with_numbers(self, left: int, symbol: str, right: int, result: int) -> str:
        """The line with its numbers (and symbol) replaced and every other character kept."""
        line = self.line
        new = {"left": str(left), "symbol": symbol, "right": str(right), "result": str(result)}
        for part in sorted(new, key=lambda p: self.spans[p][0], reverse=True):
            begin, end = self.spans[part]
            line = line[:begin] + new[part] + line[end:]
        return line


@dataclass(frozen=True)
class AnswerLine:
    """The line stating the final answer, with the span of its number."""

    line: str
    value: int
    span: tuple[int, int]

    def with_value(self, value: int) -> str:
        return self.line[:self.span[0]] + str(value) + self.line[self.span[1]:]


@dataclass(frozen=True)
class ParsedTrace:
    """A trace line by line: each line an ``Equation``, an ``AnswerLine`` or plain text (``str``)."""

    lines: tuple[Equation | AnswerLine | str, ...]

    @property
    def equations(self) -> list[Equation]:
        return [line for line in self.lines if isinstance(line, Equation)]

    @property
    def answer(self) -> AnswerLine | None:
        answers = [line for line in self.lines if isinstance(line, AnswerLine)]
        return answers[-1] if answers else None


def _parse_line(line: str, number: int) -> Equation | AnswerLine | str:
    equation = _EQUATION.search(line)
    if equation:
        spans = {part: equation.span(part) for part in ("left", "symbol", "right", "result")}
        return Equation(line, equation["symbol"], int(equation["left"]), int(equation["right"]),
                        int(equation["result"]), spans)
    answer = _ANSWER.search(line)
    if answer:
        group = next(g for g in ("boxed", "plain", "hash") if answer[g] is not None)
        return AnswerLine(line, int(answer[group]), answer.span(group))
    if "=" in line or re.search(r"\d\s*[+\-*x]\s*(\d|$)", line):
        raise ToyParseError(f"line {number}: {line.strip()[:60]!r} looks like a step but is not a whole equation")
    return line


def parse_trace(text: str) -> ParsedTrace:
    """The trace's lines read as equations, an answer line and plain text; fails on malformed steps."""
    if not text or not text.strip():
        raise ToyParseError("the trace is empty")
    lines = tuple(_parse_line(line, i) for i, line in enumerate(text.split("\n"), start=1))
    parsed = ParsedTrace(lines)
    if not parsed.equations:
        raise ToyParseError("the trace has no equation to follow")
    return parsed


def step_is_right(equation: Equation, step: Step) -> bool:
    """Whether a written equation performs ``step`` correctly (either operand order for + and *)."""
    if equation.op != step.op or equation.result != step.result:
        return False
    operands = (equation.left, equation.right)
    if step.op in "+*":
        return sorted(operands) == sorted((step.left, step.right))
    return operands == (step.left, step.right)


def operations(trace: ParsedTrace, start: int) -> list[tuple[str, int]]:
    """The reasoning a trace follows: each step's operation and the number it brings in."""
    ops = []
    for i, eq in enumerate(trace.equations):
        # the number brought in is the one not carried over from the previous result (or the start)
        carried = trace.equations[i - 1].result if i else start
        brought = eq.left if (eq.op in "+*" and eq.right == carried and eq.left != carried) else eq.right
        ops.append((eq.op, brought))
    return ops
