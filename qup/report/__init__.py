"""The study's report: quality against utility, one row per corpus, each figure with its interval.

Reads what every stage wrote (coverage, scores, per-problem evaluation results per training seed) and
writes ``reports/summary.md``, plots (PNG, and JSON for DVC plots) and returns what ``metrics/summary.json``
holds: the figures with their intervals, Spearman correlations across corpora and a three-way verdict
(``qup.verdict``). ``summary`` computes the numbers, ``markdown`` and ``plots`` render them.
"""

from __future__ import annotations

from pathlib import Path

from qup import paths
from qup.config import CorpusSpec
from qup.report.markdown import markdown
from qup.report.plots import sweep_plot, write_plots
from qup.report.summary import reward_labels, summarize
from qup.report.sweep import SWEEP_PLOT

__all__ = ["build_report"]


def build_report(corpora: dict[str, CorpusSpec], reward_columns: list[str], *, root: Path = Path("."), seed: int = 0,
                 resamples: int = 2000) -> dict:
    """Write the summary table, plots and verdict under ``root``; returns what ``metrics/summary.json`` holds."""
    summary = summarize(corpora, reward_columns, root, seed=seed, resamples=resamples)
    labels = reward_labels(reward_columns)
    write_plots(summary["corpora"], summary["base"], labels[0] if labels else None, summary["k"], root,
                next(iter(summary["objectives"]), None))  # the primary objective's curves
    sweep_plot(summary.get("select_sweep", []), root / paths.PLOTS / SWEEP_PLOT, summary["k"])
    (root / paths.SUMMARY_REPORT).write_text(markdown(summary, labels))
    return summary
