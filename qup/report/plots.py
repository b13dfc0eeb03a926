"""The report's figures: PNGs of utility and of utility against quality, and the JSON that DVC plots read."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np


def write_plots(rows: dict[str, dict], base: dict, reward_label: str | None, k: int, directory: Path) -> None:
    """``utility.png``, ``reward_vs_accuracy.png`` (when there is a reward model), ``perplexity_vs_accuracy.png``
    and ``corpora.json`` under ``directory``."""
    utility_plot(rows, base, directory / "utility.png", k)
    if reward_label:
        scatter(rows, lambda r: r["reward"][reward_label], directory / "reward_vs_accuracy.png",
                xlabel=f"{reward_label} reward", k=k)
    scatter(rows, lambda r: r["perplexity"], directory / "perplexity_vs_accuracy.png",
            xlabel="SLM perplexity on the corpus", k=k)
    (directory / "corpora.json").write_text(json.dumps(corpus_points(rows, reward_label), indent=2) + "\n")


def corpus_points(rows: dict[str, dict], reward_label: str | None) -> list[dict]:
    """One point per corpus for DVC plots: reward, perplexity, Avg@k with its interval, greedy accuracy."""
    return [{"corpus": n, "reward": r["reward"][reward_label]["mean"] if reward_label else None,
             "perplexity": r["perplexity"]["mean"], "avg_at_k": r["avg_at_k"]["mean"],
             "avg_at_k_low": r["avg_at_k"]["ci_low"], "avg_at_k_high": r["avg_at_k"]["ci_high"],
             "greedy_accuracy": r["greedy_accuracy"]["mean"]} for n, r in rows.items()]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _errors(blocks: list[dict]) -> np.ndarray:
    """matplotlib's asymmetric error bars from ``{mean, ci_low, ci_high}`` blocks."""
    return np.array([[b["mean"] - b["ci_low"] for b in blocks], [b["ci_high"] - b["mean"] for b in blocks]])


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def utility_plot(rows: dict[str, dict], base: dict, path: Path, k: int) -> None:
    """Avg@k per corpus and of the base SLM, with 95% interval bars."""
    plt = _pyplot()
    names = [*rows, "base SLM"]
    blocks = [r["avg_at_k"] for r in rows.values()] + [base["avg_at_k"]]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.barh(names, [b["mean"] for b in blocks], xerr=_errors(blocks), capsize=4, color="#8fb3d9")
    ax.invert_yaxis()
    ax.set_xlabel(f"Avg@{k} after training (95% interval over seeds and problems)")
    ax.grid(axis="x", alpha=0.3)
    _save(plt, fig, path)


def scatter(rows: dict[str, dict], x_of: Callable[[dict], dict | None], path: Path, *, xlabel: str, k: int) -> None:
    """Avg@k against a quality measure, each point with its intervals on both axes."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, row in rows.items():
        x = x_of(row)
        if not x or x.get("mean") is None:
            continue
        xerr = _errors([x]) if x.get("ci_low") is not None else None
        ax.errorbar(x["mean"], row["avg_at_k"]["mean"], xerr=xerr, yerr=_errors([row["avg_at_k"]]), fmt="o", capsize=3)
        ax.annotate(name, (x["mean"], row["avg_at_k"]["mean"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"Avg@{k} after training")
    ax.grid(alpha=0.3)
    _save(plt, fig, path)
