"""Whether a model-written trace is a worked solution at all.

A weak Oracle asked to refine a student's trace often replies with a verdict on it ("The student's
solution is correct. The answer is 14.") or a bare ``\\boxed{75}``. Such a reply can carry the right
answer, so grading keeps it, and the judge may even rate it 5. It is no trace to train on: the SLM
would learn to talk about a student, or to answer without working.
"""

from __future__ import annotations

import re

# speaks of the attempt it was shown rather than solving the problem
_ABOUT_THE_ATTEMPT = re.compile(r"\bstudent'?s?\b|\b(?:the|this|your) (?:attempt|attempted solution|draft)\b", re.I)
# the boxed final answer, whose number is no working
_BOXED = re.compile(r"\\boxed\{[^{}]*\}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def not_a_solution(reply: str) -> bool:
    """Whether ``reply`` talks about the attempt it was given, or shows no working: fewer than two numbers
    outside its boxed answer (the least a worked step holds, as in "adding 2 gives 5")."""
    return bool(_ABOUT_THE_ATTEMPT.search(reply)) or len(_NUMBER.findall(_BOXED.sub("", reply))) < 2
