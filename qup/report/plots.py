"""The report's figures: PNGs of utility and of utility against quality, and the JSON that DVC plots read.

DVC's top-level ``plots:`` in ``dvc.yaml`` draw ``corpora.json`` (one point per corpus, every figure with its 95%
interval) and one tidy file per training curve (``train_loss.json``, ``train_token_accuracy.json``: a row per
corpus and step, seeds averaged, with the seeds' range), through the templates in ``.dvc/plots/``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qup import paths

# curve file (the name the report writes) -> (dvclive's file under a seed's folder, its field)
CURVES = {paths.TRAIN_LOSS_PLOT.name: ("plots/metrics/loss.tsv", "loss"),
          paths.TRAIN_ACCURACY_PLOT.name: ("plots/metrics/mean_token_accuracy.tsv", "mean_token_accuracy")}


def write_plots(rows: dict[str, dict], base: dict, reward_label: str | None, k: int, root: Path,
                objective: str | None) -> None:
    """Under ``root``'s ``reports/plots``: ``utility.png``, ``reward_vs_accuracy.png`` (when there is a reward
    model), ``perplexity_vs_accuracy.png``, ``corpora.json`` and the training curves (from dvclive's folders)."""
    directory = root / paths.PLOTS
    utility_plot(rows, base, directory / "utility.png", k)
    if reward_label:
        scatter(rows, lambda r: r["reward"][reward_label], directory / "reward_vs_accuracy.png",
                xlabel=f"{reward_label} reward", k=k)
    scatter(rows, lambda r: r["perplexity"], directory / "perplexity_vs_accuracy.png",
            xlabel="SLM perplexity on the corpus", k=k)
    (directory / "corpora.json").write_text(json.dumps(corpus_points(rows, reward_label), indent=2) + "\n")
    for name, (file, field) in CURVES.items():
        (directory / name).write_text(json.dumps(training_curve(root, list(rows), file, field, objective),
                                                 indent=2) + "\n")


def _interval(block: dict | None, name: str) -> dict:
    """``name``, ``name_low`` and ``name_high`` from a ``{mean, ci_low, ci_high}`` block (None where absent)."""
    block = block or {}
    return {name: block.get("mean"), f"{name}_low": block.get("ci_low"), f"{name}_high": block.get("ci_high")}


def corpus_points(rows: dict[str, dict], reward_label: str | None) -> list[dict]:
    """One point per corpus for DVC plots: reward, perplexity and Avg@k, each with its 95% interval (``_low``,
    ``_high``), and greedy accuracy; ``native`` marks the native corpus, the baseline every other is held to."""
    return [{"corpus": n, "native": n == "native",
             **_interval(r["reward"].get(reward_label) if reward_label else None, "reward"),
             **_interval(r["perplexity"], "perplexity"), **_interval(r["avg_at_k"], "avg_at_k"),
             "greedy_accuracy": r["greedy_accuracy"]["mean"]} for n, r in rows.items()]


def _read_curve(path: Path, field: str) -> dict[int, float]:
    """step -> value of one dvclive TSV (empty where the file is missing)."""
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        return {int(row["step"]): float(row[field]) for row in csv.DictReader(f, delimiter="\t") if row.get(field)}


def _seed_folders(folder: Path) -> list[Path]:
    seeds = [p for p in folder.glob("seed-*") if p.is_dir() and p.name[5:].isdigit()]
    return sorted(seeds, key=lambda p: int(p.name[5:]))


def training_curve(root: Path, corpora: list[str], file: str, field: str, objective: str | None) -> list[dict]:
    """One curve for DVC plots: a row per corpus (in ``corpora``'s order) and step with the mean over the training
    seeds of ``field`` (from ``file`` under each seed's dvclive folder), its range over the seeds (``_min``,
    ``_max``) and how many seeds logged that step."""
    out = []
    for name in corpora:
        runs = [_read_curve(seed / file, field)
                for seed in _seed_folders(root / paths.training_curves(name, objective))]
        for step in sorted(set().union(*runs)):
            values = [run[step] for run in runs if step in run]
            out.append({"corpus": name, "step": step, field: float(np.mean(values)), f"{field}_min": min(values),
                        f"{field}_max": max(values), "seeds": len(values)})
    return out


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


def sweep_plot(points: list[dict], path: Path, k: int) -> None:
    """Δ Avg@k vs native against λ, with the paired 95% intervals (nothing without a sweep)."""
    if not points or any(p["delta_vs_native"] is None for p in points):
        return
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    blocks = [p["delta_vs_native"] for p in points]
    xs = list(range(len(points)))  # λ spans 0 to large values: evenly spaced, labelled with each λ
    ax.errorbar(xs, [b["mean"] for b in blocks], yerr=_errors(blocks), fmt="o-", capsize=4)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(xs, [f"{p['lambda']:g}" for p in points])
    ax.set_xlabel("λ (weight of the SLM's likelihood in select)")
    ax.set_ylabel(f"Δ Avg@{k} vs native (95% CI)")
    ax.grid(alpha=0.3)
    _save(plt, fig, path)
