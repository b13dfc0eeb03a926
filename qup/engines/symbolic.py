"""The toy world's Oracle as an engine: it reads the task and its inputs back out of the rendered
prompt (any version of any template whose name starts with ``synthesize``, ``refine``, ``style_aligned``
or ``judge``, so a new Oracle prompt says by its name what it asks of this Oracle),
the problem's computation out of the question, and answers exactly. When it cannot read a trace it
says so, with ``finish_reason`` ``"refused"``, instead of guessing. Having no tokenizer, it counts
tokens with ``count_tokens`` (words, digit groups and symbols, close to a BPE tokenizer's count).
"""

from __future__ import annotations

from collections.abc import Callable

from qup.engines.base import Completion, Conversation, EngineBase, Sampling, count_tokens
from qup.progress import progress
from qup.prompts import Prompt, prompt_names, prompt_versions
from qup.toy import oracle
from qup.toy.parse import ToyParseError, parse_question
from qup.toy.world import ToyProblem

TASKS: dict[str, Callable[..., str]] = {
    "synthesize": lambda problem, fields: oracle.synthesize(problem),
    "refine": lambda problem, fields: oracle.refine(problem, fields["trace"]),
    "style_aligned": lambda problem, fields: oracle.style_align(problem, fields["trace"]),
    "judge": lambda problem, fields: oracle.judge(problem, fields["trace"], fields["refined"]),
}


class SymbolicEngine(EngineBase):
    """Answers the Oracle's prompts for toy-world problems; deterministic, so every sample is the same."""

    name = "symbolic"

    def __init__(self, model: str = "symbolic", *, progress: bool = False):
        self.model = model
        self.progress = progress
        self._templates: list[tuple[str, Prompt]] = [
            (task, p) for task in TASKS for name in prompt_names(task) for p in prompt_versions(name)]

    def _task_of(self, text: str) -> tuple[str, dict[str, str]]:
        for task, template in self._templates:
            fields = template.parse(text)
            if fields is not None:
                return task, {k: v.strip() for k, v in fields.items()}
        raise ToyParseError("the prompt is none of the Oracle's templates: "
                            + ", ".join(sorted({t.id for _, t in self._templates})))

    def answer(self, conversation: Conversation) -> Completion:
        """The reply to the conversation's last user message."""
        text = next(m["content"] for m in reversed(conversation) if m["role"] == "user")
        prompt_tokens = sum(count_tokens(m["content"]) for m in conversation)
        try:
            task, fields = self._task_of(text)
            problem: ToyProblem = parse_question(fields["question"])
            reply, finish = TASKS[task](problem, fields), "stop"
        except ToyParseError as err:
            reply, finish = f"I cannot do this: {err}", "refused"
        return Completion(reply, count_tokens(reply), finish, prompt_tokens=prompt_tokens)

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        replies = [self.answer(c) for c in progress(conversations, desc="symbolic", disable=not self.progress)]
        return [[reply] * n for reply in replies]
