"""Statistics for the report: bootstrap intervals, pass@k and maj@k, paired differences, rank correlation.

Everything is numpy-only, deterministic given ``seed``, and returns plain Python floats (JSON-ready).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

# Largest number of random indices drawn at once, to keep memory small (16 MB of int64).
_CHUNK_ELEMENTS = 2_000_000


def bootstrap_mean(values, *, seed: int = 0, resamples: int = 1000, level: float = 0.95) -> dict:
    """Mean and percentile bootstrap interval of the non-missing ``values`` (None and NaN are dropped)."""
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if data.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = _percentile_interval(means, level)
    return {"mean": float(data.mean()), "ci_low": low, "ci_high": high, "n": int(data.size)}


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct: 1 - C(n-c, k) / C(n, k) (Chen et al. 2021)."""
    if min(n, c, k) < 0 or k > n or c > n:
        raise ValueError(f"pass@k needs 0 <= k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i), which never forms the huge binomials.
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_correct(answers: list[str | None], correct: list[bool]) -> bool:
    """maj@k for one problem: is the most frequent extracted answer correct?

    None never votes (all None gives False); votes count on the stripped answer; a tie goes to the answer
    that appears first, and its correctness is that of the first sample carrying it.
    """
    if len(answers) != len(correct):
        raise ValueError(f"{len(answers)} answers but {len(correct)} correctness flags")
    votes: dict[str, int] = {}
    first_correct: dict[str, bool] = {}
    for answer, ok in zip(answers, correct):
        if answer is None:
            continue
        key = answer.strip()
        votes[key] = votes.get(key, 0) + 1
        first_correct.setdefault(key, bool(ok))
    if not votes:
        return False
    winner = max(votes, key=votes.__getitem__)  # max keeps the first maximum, i.e. the first to appear
    return first_correct[winner]


def crossed_bootstrap(scores, *, seed: int = 0, resamples: int = 2000, level: float = 0.95) -> dict:
    """Mean of a [seeds, problems] matrix with a bootstrap interval over both seeds and problems.

    Each resample draws seed rows and problem columns, each with replacement, and takes the mean of
    the drawn cells. Every seed was evaluated on the same problems (a crossed design), so one draw of
    problems serves all drawn seeds: drawing problems anew within each seed, as a stratified
    bootstrap over independent runs would, divides the problems' difficulty variance by seeds x
    problems and gives intervals that are too narrow. Returns ``{mean, ci_low, ci_high, se}`` with a
    percentile interval and se the standard deviation (ddof=1) of the resampled means.
    """
    data = _matrix(scores, "scores")
    means = _crossed_means(data, seed, resamples)
    low, high = _percentile_interval(means, level)
    return {"mean": float(data.mean()), "ci_low": low, "ci_high": high, "se": float(means.std(ddof=1))}


def paired_difference(a, b, *, seed: int = 0, resamples: int = 2000, level: float = 0.95) -> dict:
    """Paired difference mean(a - b) of two [seeds, problems] matrices (same seeds, same problems),
    with the interval and a two-sided p-value from one crossed bootstrap of the differences.

    The p-value is the bootstrap's: twice the share of resampled differences on the far side of 0
    (counting the observed one), so p < 1 - ``level`` exactly when the interval excludes 0, and the
    p-value and interval answer the same question over seeds and problems. It is 1.0 when every
    difference is 0.
    """
    a, b = _matrix(a, "a"), _matrix(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired_difference needs a and b of the same [seeds, problems] shape, "
                         f"got {a.shape} and {b.shape}")
    differences = a - b
    means = _crossed_means(differences, seed, resamples)
    low, high = _percentile_interval(means, level)
    if not differences.any():
        p_value = 1.0
    else:
        far_side = np.count_nonzero(means <= 0) if differences.mean() > 0 else np.count_nonzero(means >= 0)
        p_value = min(1.0, 2 * (1 + far_side) / (1 + resamples))
    return {"mean": float(differences.mean()), "ci_low": low, "ci_high": high, "se": float(means.std(ddof=1)),
            "p_value": float(p_value)}


def mean_of_independent(blocks: list[dict]) -> dict:
    """The mean of independent estimates (``{mean, se}`` blocks), its se and a normal 95% interval."""
    mean = float(np.mean([b["mean"] for b in blocks]))
    se = float(np.sqrt(sum(b["se"] ** 2 for b in blocks)) / len(blocks))
    return {"mean": mean, "se": se, "ci_low": mean - 1.96 * se, "ci_high": mean + 1.96 * se}


def minimum_detectable_effect(se: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true difference a two-sided test at ``alpha`` detects with ``power``: (z_{1-alpha/2} + z_power) * se."""
    normal = NormalDist()
    return float((normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)) * se)


def spearman(x, y) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None with fewer than 3 points or no spread."""
    if len(x) < 3:
        return None
    rx, ry = _average_ranks(x), _average_ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def spearman_interval(x, y, level: float = 0.95) -> dict:
    """Spearman's rho with a Fisher-z interval using the Fieller-Hartley-Pearson variance 1.06 / (n - 3).

    The interval is None when n <= 3, rho is None or |rho| == 1 (up to rounding, as perfectly
    monotone data gives rho = 0.9999999999999999).
    """
    n = len(x)
    rho = spearman(x, y)
    if rho is None or n <= 3 or math.isclose(abs(rho), 1.0):
        return {"rho": rho, "ci_low": None, "ci_high": None, "n": n}
    half_width = NormalDist().inv_cdf(1 - (1 - level) / 2) * math.sqrt(1.06 / (n - 3))
    z = math.atanh(rho)
    return {"rho": rho, "ci_low": math.tanh(z - half_width), "ci_high": math.tanh(z + half_width), "n": n}


def _matrix(values, name: str) -> np.ndarray:
    data = np.asarray(values, dtype=float)
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D [seeds, problems] array, got shape {data.shape}")
    return data


def _average_ranks(values) -> np.ndarray:
    """1-based ranks, tied values sharing the average of their positions."""
    _, group, counts = np.unique(np.asarray(values, dtype=float), return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    return (last - (counts - 1) / 2)[group]


def _percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    return float(np.percentile(samples, tail)), float(np.percentile(samples, 100 - tail))


def _crossed_means(data: np.ndarray, seed: int, resamples: int) -> np.ndarray:
    """Means of ``resamples`` resamples that draw seed rows and problem columns, each with replacement."""
    n_seeds, n_problems = data.shape
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, _CHUNK_ELEMENTS // (n_seeds + n_problems))
    for start in range(0, resamples, step):
        count = min(step, resamples - start)
        rows = _counts(rng.integers(0, n_seeds, size=(count, n_seeds)), n_seeds)
        columns = _counts(rng.integers(0, n_problems, size=(count, n_problems)), n_problems)
        # the mean of data[drawn rows][:, drawn columns], from how often each row and column was drawn
        means[start:start + count] = np.einsum("rs,sp,rp->r", rows, data, columns) / (n_seeds * n_problems)
    return means


def _counts(draws: np.ndarray, size: int) -> np.ndarray:
    """Per resample (row of ``draws``), how often each index in 0..size-1 was drawn."""
    offsets = draws + (np.arange(draws.shape[0]) * size)[:, None]
    return np.bincount(offsets.ravel(), minlength=draws.shape[0] * size).reshape(draws.shape[0], size).astype(float)
