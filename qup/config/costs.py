"""Token prices for cost estimates."""

from __future__ import annotations

from pydantic import Field

from qup.config.base import Strict


class Price(Strict):
    """What a model costs, in USD per million tokens."""

    prompt: float = Field(0.0, ge=0)
    completion: float = Field(0.0, ge=0)


class CostParams(Strict):
    """Token prices for cost estimates (stage metrics, ``oracle.max_cost``, ``qup plan``)."""

    # by model id as the manifest names it (e.g. gpt-4o); a model not listed costs nothing (a local engine)
    prices: dict[str, Price] = {}
    gpu_tokens_per_second: float = Field(2500.0, gt=0)  # qup plan's GPU-hours: generated tokens per second per GPU
