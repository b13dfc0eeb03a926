"""Inference engines behind one protocol; stages pick one by params, never by name checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
           "request_seed", "shared_server"]


def make_engine(params, model: dict, *, progress: bool = False, adapter: str | None = None) -> Engine:
    """The engine ``params.engine`` names (an ``EngineParams``), serving the manifest entry ``model``,
    with the LoRA ``adapter`` (a saved PEFT directory) applied where one is given."""
    from qup.engines.registry import ENGINES

    return ENGINES[params.engine](model, params.chosen(), progress=progress, adapter=adapter)


@contextmanager
def shared_server(params, model: dict, adapters: list[str]) -> Iterator:
    """One server for every LoRA adapter in ``adapters`` (each a saved PEFT directory of ``model``): where
    ``params.engine`` launches a server (sglang, vllm as a server), it is started once, able to load any of
    them, and the engine params that reach it are yielded, so each ``make_engine(..., adapter=a)`` loads its
    adapter by name and unloads it on close; elsewhere (no adapters, hf, a server already running) ``params``
    themselves. The server stops when the block ends."""
    from qup.engines.registry import SERVERS

    options = params.chosen()
    if not adapters or params.engine not in SERVERS or not options.launches():
        yield params
        return
    with SERVERS[params.engine](model, options, progress=False, adapter=None, lora_adapters=adapters) as engine:
        yield params.model_copy(update={params.engine: options.reaching(engine.url)})
