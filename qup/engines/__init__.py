"""Inference engines behind one protocol; stages pick one by params, never by name checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Message = dict[str, str]
Conversation = list[Message]


@dataclass(frozen=True)
class Sampling:
    """How to sample: ``temperature`` 0 means greedy."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0


@dataclass(frozen=True)
class Completion:
    """One generated response."""

    text: str
    n_tokens: int
    finish_reason: str  # "stop" (end of turn) or "length" (token budget spent)


class Engine(Protocol):
    """Generates ``n`` completions for each conversation (its chat template applied once)."""

    name: str
    model: str

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling) -> list[list[Completion]]:
        ...


def make_engine(params, model: dict, *, progress: bool = False) -> Engine:
    """The engine ``params.engine`` names, serving the manifest entry ``model``."""
    from qup.engines.registry import ENGINES

    options = params.model_dump(exclude={"engine"})
    return ENGINES[params.engine](model, progress=progress, **options)
