"""Inference engines behind one protocol; stages pick one by params, never by name checks."""

from __future__ import annotations

from qup.chat import Conversation, Message
from qup.engines.base import (
    FAILED,
    FINISH_REASONS,
    USAGE_FIELDS,
    Completion,
    Engine,
    EngineBase,
    Sampling,
    TooManyFailures,
    Usage,
    check_failures,
    count_tokens,
    finish_counts,
    request_seed,
)

__all__ = ["FAILED", "FINISH_REASONS", "USAGE_FIELDS", "Completion", "Conversation", "Engine", "EngineBase", "Message",
           "Sampling", "TooManyFailures", "Usage", "check_failures", "count_tokens", "finish_counts", "make_engine",
           "request_seed"]


def make_engine(params, model: dict, *, progress: bool = False, adapter: str | None = None) -> Engine:
    """The engine ``params.engine`` names (an ``EngineParams``), serving the manifest entry ``model``,
    with the LoRA ``adapter`` (a saved PEFT directory) applied where one is given."""
    from qup.engines.registry import ENGINES

    return ENGINES[params.engine](model, params.chosen(), progress=progress, adapter=adapter)
