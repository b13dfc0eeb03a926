"""Inference engines behind one protocol; stages pick one by params, never by name checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qup.chat import Conversation, Message

__all__ = ["Completion", "Conversation", "Engine", "EngineBase", "Message", "Sampling", "make_engine",
           "request_seed"]


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
    finish_reason: str  # "stop" (end of turn), "length" (token budget spent) or "refused" (cannot do the task)


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


def make_engine(params, model: dict, *, progress: bool = False, adapter: str | None = None) -> Engine:
    """The engine ``params.engine`` names (an ``EngineParams``), serving the manifest entry ``model``,
    with the LoRA ``adapter`` (a saved PEFT directory) applied where one is given."""
    from qup.engines.registry import ENGINES

    options = params.options()
    if "model" in options:  # an engine's own name for the model, where the server knows it otherwise
        options["model_name"] = options.pop("model")
    if adapter is not None:
        options["adapter"] = adapter
    return ENGINES[params.engine](model, progress=progress, **options)
