"""What every engine shares: the protocol, sampling settings, completions and their token usage."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
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

    text: str  # a failed completion's (``FAILED``): why it failed, never a model's words
    n_tokens: int  # completion tokens
    finish_reason: str  # one of FINISH_REASONS
    prompt_tokens: int = 0
    retries: int = 0  # failed attempts the request took before this answer


# "stop": the model ended its turn; "length": the token budget ran out; "abort": the server dropped the request;
# "filtered": a content filter stopped it; "error": the server refused it (HTTP 400: too long a prompt, say);
# "refused": the toy Oracle cannot read its task.
FINISH_REASONS = ("stop", "length", "abort", "filtered", "error", "refused")
FAILED = ("abort", "filtered", "error")  # the request failed, not the model: such rows are never graded right
SOFT_FAIL_STATUSES = frozenset({400, 413, 422})  # HTTP errors that fail one request, not the stage


class TooManyFailures(RuntimeError):
    """More of a stage's requests failed than ``engines.<role>.max_error_share`` allows."""


def failed(message: str, finish_reason: str, n: int, *, prompt_tokens: int = 0) -> list[Completion]:
    """The ``n`` completions of a request that failed with ``message``."""
    return [Completion(message, 0, finish_reason, prompt_tokens=prompt_tokens)] * n


def finish_counts(reasons: Iterable[str]) -> dict[str, int]:
    """How many completions ended for each reason (every reason listed, so metrics keep their keys)."""
    counts = Counter(reasons)
    return {reason: counts.get(reason, 0) for reason in FINISH_REASONS}


def check_failures(failures: Iterable[tuple[str, str | None]], total: int, *, max_share: float, what: str) -> None:
    """Raise ``TooManyFailures`` when the failed completions, as (finish reason, message or None), pass
    ``max_share`` of ``total``; the error names the commonest reason and its commonest message."""
    failures = [(reason, message) for reason, message in failures if reason in FAILED]
    if not failures or len(failures) <= max_share * total:
        return
    reason, count = Counter(r for r, _ in failures).most_common(1)[0]
    messages = Counter(m for r, m in failures if r == reason and m)
    example = f": {messages.most_common(1)[0][0][:300]}" if messages else ""
    raise TooManyFailures(f"{what}: {len(failures)} of {total} completions failed ({len(failures) / total:.1%}, "
                          f"more than max_error_share {max_share:.1%}); the commonest, {count} times, "
                          f"{reason}{example}. The failed rows are cached, so a rerun keeps them as failures: raise "
                          "engines.<role>.max_error_share to go on with them, or fix the cause and clear the stage's "
                          "cache in .qup-cache/ to ask again")


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
