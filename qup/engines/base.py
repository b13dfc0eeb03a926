"""What every engine shares: the protocol, sampling settings, completions and their token usage."""

from __future__ import annotations

import re
from dataclasses import asdict, astuple, dataclass
from typing import Protocol

from qup.chat import Conversation


@dataclass(frozen=True)
class Sampling:
    """How to sample: ``temperature`` 0 means greedy."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0


@dataclass(frozen=True)
class Completion:
    """One generated response, with what its request cost.

    ``prompt_tokens`` and ``retries`` belong to the request that produced it: each of a conversation's
    n completions carries the same values, and ``Usage.of`` counts them once per conversation.
    """

    text: str
    n_tokens: int  # completion tokens
    finish_reason: str  # "stop" (end of turn), "length" (token budget spent) or "refused" (cannot do the task)
    prompt_tokens: int = 0
    retries: int = 0  # failed attempts the request took before this answer


_TOKEN = re.compile(r"[^\W\d_]+|\d{1,3}|[^\w\s]|_")


def count_tokens(text: str) -> int:
    """A local token count for engines without a tokenizer: each run of letters, each group of up to
    three digits and each other symbol is one token (close to a BPE tokenizer's count on math text)."""
    return len(_TOKEN.findall(text))


USAGE_FIELDS = ("calls", "prompt_tokens", "completion_tokens", "retries")


@dataclass(frozen=True)
class Usage:
    """What engine calls consumed. ``calls`` counts completions (a request for n samples makes n);
    a request's prompt is counted once, as an API bills it."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(astuple(self), astuple(other))))

    @classmethod
    def of(cls, completions: list[list[Completion]]) -> Usage:
        """The usage of one ``generate`` result: each conversation's completions."""
        requests = [samples[0] for samples in completions if samples]
        return cls(calls=sum(len(samples) for samples in completions),
                   prompt_tokens=sum(r.prompt_tokens for r in requests),
                   completion_tokens=sum(c.n_tokens for samples in completions for c in samples),
                   retries=sum(r.retries for r in requests))

    @classmethod
    def from_rows(cls, frame) -> Usage:
        """The total of a table with a column per field of ``USAGE_FIELDS``."""
        return cls(**{name: int(frame[name].sum() or 0) for name in USAGE_FIELDS})

    def cost(self, price) -> float:
        """USD at ``price`` (a ``costs.prices`` entry: USD per million prompt and completion tokens);
        None, a model without a price, costs nothing."""
        if price is None:
            return 0.0
        return (self.prompt_tokens * price.prompt + self.completion_tokens * price.completion) / 1e6

    def metrics(self, price) -> dict:
        """The figures a stage's metrics carry."""
        return {**asdict(self), "cost_usd": round(self.cost(price), 6)}


def request_seed(seed: int, index: int, sample: int) -> int:
    """The seed of one request (a conversation's ``sample``-th completion): stable under any batching."""
    return (seed * 1_000_003 + index * 10_007 + sample) % (2**63 - 1)


class Engine(Protocol):
    """Generates ``n`` completions for each conversation (its chat template applied once).

    ``seeds`` holds one seed per conversation (default: its index); sample j of a conversation
    draws from ``request_seed(sampling.seed, seeds[i], j)`` where the engine can seed requests.
    """

    name: str
    model: str

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        ...

    def close(self) -> None:
        """Release what the engine holds (a server it started, say)."""

    def __enter__(self) -> Engine:
        ...

    def __exit__(self, *exc) -> None:
        ...


class EngineBase:
    """What every engine shares: use it in a ``with`` block and it is closed however the block ends."""

    def close(self) -> None:
        """Nothing to release by default: the model lives as long as the engine."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
