"""Means with bootstrap confidence intervals."""

from __future__ import annotations

import math

import numpy as np


def bootstrap_mean(values, *, seed: int = 0, resamples: int = 1000, level: float = 0.95) -> dict:
    """Mean and percentile bootstrap interval of the non-missing ``values``."""
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if data.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return {"mean": float(data.mean()), "ci_low": float(np.percentile(means, tail)),
            "ci_high": float(np.percentile(means, 100 - tail)), "n": int(data.size)}
