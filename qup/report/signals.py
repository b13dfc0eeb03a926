"""Which signal measured before training predicts utility: Spearman's rho of each with Avg@k across corpora.

A point is one corpus (of one run, or of one experiment in ``qup compare``): its Avg@k after training and the
signals the corpus and score stages measured before it: each reward model's mean, the SLM's perplexity, the
char-3 JSD to the SLM's samples, the edit distance to the source trace and, for select corpora, the mean select
score. A signal a corpus lacks leaves that point out of that signal's correlation, which says its ``n``.
"""

from __future__ import annotations

import math

from qup.stats import spearman_interval

# signal (besides the rewards) -> (the summary row's key, the sign of rho when the signal predicts utility)
SIGNALS = {"perplexity": ("perplexity", -1), "style JSD (char-3)": ("char3_jsd", -1),
           "edit distance": ("edit_distance", -1), "select score": ("select_score", +1)}
# with |rho| = 1 the Fisher-z interval does not exist; a perfect order over n points arises by chance with
# probability 2 / n!, below 0.05 from this many points on
PERFECT_ORDER_POINTS = 5


def _number(value) -> float | None:
    """A float from a number or a ``{mean}`` block; None where absent or NaN."""
    if isinstance(value, dict):
        value = value.get("mean")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def signal_values(row: dict) -> dict[str, float | None]:
    """The pre-training signals of one summary row (``metrics/summary.json``'s ``corpora[name]``)."""
    out = {f"reward ({label})": _number(block) for label, block in (row.get("reward") or {}).items()}
    out.update({name: _number(row.get(key)) for name, (key, _) in SIGNALS.items()})
    return out


def _direction(signal: str) -> int:
    return +1 if signal.startswith("reward") else SIGNALS[signal][1]


def word(block: dict, direction: int) -> str:
    """predicts / misleads when the interval (or a perfect order over enough points) excludes 0; else cannot tell."""
    rho, low, high = block["rho"], block["ci_low"], block["ci_high"]
    if rho is None:
        return "cannot tell"
    if low is None:
        decided = math.isclose(abs(rho), 1.0) and block["n"] >= PERFECT_ORDER_POINTS
    else:
        decided = low > 0 or high < 0
    if not decided:
        return "cannot tell"
    return "predicts" if rho * direction > 0 else "misleads"


def signal_correlations(points: list[tuple[float, dict[str, float | None]]]) -> dict[str, dict]:
    """Per signal that some point has, over the points that have it: ``{rho, ci_low, ci_high, n, expected, word}``.

    ``points`` are (Avg@k, signal values) pairs; ``expected`` is the sign of rho when the signal predicts
    utility (``+`` for reward and select score, ``-`` for perplexity, style JSD and edit distance).
    """
    names = list(dict.fromkeys(name for _, values in points for name in values))
    out = {}
    for name in names:
        pairs = [(values[name], avg) for avg, values in points if values.get(name) is not None and avg is not None]
        if not pairs:
            continue
        block = spearman_interval([p[0] for p in pairs], [p[1] for p in pairs])
        direction = _direction(name)
        out[name] = {**block, "expected": "+" if direction > 0 else "-", "word": word(block, direction)}
    return out


def run_signals(rows: dict[str, dict]) -> dict[str, dict]:
    """The correlations across the corpora of one run (``summary['corpora']``)."""
    return signal_correlations([(_number(r.get("avg_at_k")), signal_values(r)) for r in rows.values()])


def _rho_text(block: dict) -> str:
    if block["rho"] is None:
        return "n/a"
    text = f"{block['rho']:+.2f}"
    return text + ("" if block["ci_low"] is None else f" [{block['ci_low']:+.2f}, {block['ci_high']:+.2f}]")


def signals_table(signals: dict[str, dict], k: int | str, over: str = "corpora") -> str:
    """The Markdown table "Which signal predicts utility" and a line on how to read it."""
    lines = [f"| signal | n {over} | Spearman ρ with Avg@{k} [95% CI] | predicts if ρ | reads |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {b['n']} | {_rho_text(b)} | {b['expected']} | {b['word']} |" for name, b in signals.items()]
    return ("**Which signal predicts utility** (measured before training; 95% Fisher-z interval, "
            "variance 1.06/(n−3))\n\n"
            + "\n".join(lines) + "\n\n"
            "*predicts*: the interval excludes 0 on the side where the signal ranks utility; *misleads*: it excludes 0 "
            "on the other side; *cannot tell*: it covers 0. With |ρ| = 1 there is no interval, and it counts only "
            f"over ≥ {PERFECT_ORDER_POINTS} points (a perfect order by chance: 2/n! < 0.05). A signal a corpus lacks "
            "leaves it out (n).")
