"""The study's report: quality against utility, one row per corpus, and what the numbers say.

Reads the metrics every stage wrote (corpus coverage, scores, training, evaluation) and writes
one table (``reports/summary.md``, ``metrics/summary.json``), scatter plots of reward and
perplexity against accuracy (PNG, and JSON data for DVC plots), Spearman correlations across
corpora, and one sentence, computed from the numbers, on the Quality-Utility Paradox.
"""

from __future__ import annotations

import json
from pathlib import Path

from qup import paths
from qup.stats import spearman

ORACLE_CORPORA = ("oracle_refined", "oracle_synth")


def _read(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it (dvc repro)")
    return json.loads(path.read_text())


def _mean(block: dict | None) -> float | None:
    return None if block is None else block.get("mean")


def collect(corpora: list[str], root: Path = Path(".")) -> tuple[list[dict], dict]:
    """One row of figures per corpus, and the base SLM's evaluation, from the metrics under ``root``."""
    base = _read(root / paths.eval_metrics("base"))
    rows = []
    for name in corpora:
        quality = _read(root / paths.quality_metrics(name))
        evaluation = _read(root / paths.eval_metrics(name))
        built = _read(root / paths.corpus_metrics(name))
        row = {"corpus": name,
               "covered": built.get("covered", built.get("shared_problems")),
               "shared_problems": built.get("shared_problems"),
               **{f"reward_{label}": block["mean"] for label, block in quality["reward"].items()},
               "perplexity": _mean(quality["perplexity"]),
               **{q: _mean(quality[q]) for q in ("ppl_q1", "ppl_q2", "ppl_q3", "ppl_q4")},
               "edit_distance": _mean(quality.get("edit_distance")),
               "char3_jsd": quality["style"]["char3_jsd"],
               "length_ratio": quality["style"]["length_ratio"],
               "judge_score": built.get("mean_judge_score"),
               "same_operations": built.get("same_operations_share"),
               "greedy_accuracy": evaluation["greedy_accuracy"],
               "avg_at_k": evaluation["avg_at_k"],
               "delta_avg_at_k": evaluation["avg_at_k"] - base["avg_at_k"],
               "delta_greedy": evaluation["greedy_accuracy"] - base["greedy_accuracy"]}
        rows.append(row)
    return rows, base


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def verdict(rows: list[dict], reward: str, k: int) -> str:
    """One sentence: does this run show the paradox, and does style-aligned refinement recover it?"""
    by = {r["corpus"]: r for r in rows}
    if "native" not in by:
        return "No native corpus in this run, so the paradox cannot be judged."
    native = by["native"]
    oracles = [by[c] for c in ORACLE_CORPORA if c in by]
    if not oracles:
        return "No Oracle corpus in this run, so the paradox cannot be judged."
    paradox = [o for o in oracles if o[reward] > native[reward] and o["avg_at_k"] < native["avg_at_k"]]
    names = " and ".join(o["corpus"] for o in oracles)
    if paradox:
        shown = " and ".join(o["corpus"] for o in paradox)
        sentence = (f"This run shows the paradox: {shown} score{'s' if len(paradox) == 1 else ''} higher than native "
                    f"with {reward.removeprefix('reward_')} ({_fmt([o[reward] for o in paradox])} vs "
                    f"{native[reward]:.3f}) yet train{'s' if len(paradox) == 1 else ''} to a lower Avg@{k} "
                    f"({_fmt([o['avg_at_k'] for o in paradox])} vs {native['avg_at_k']:.3f})")
    else:
        sentence = (f"This run does not show the paradox: no Oracle corpus ({names}) has both a higher "
                    f"{reward.removeprefix('reward_')} reward than native ({native[reward]:.3f}) and a lower "
                    f"Avg@{k} than native ({native['avg_at_k']:.3f})")
    aligned = by.get("style_aligned")
    if aligned is None:
        return sentence + "; there is no style-aligned corpus to test the remedy."
    best_oracle = max(o["avg_at_k"] for o in oracles)
    if aligned["avg_at_k"] >= native["avg_at_k"]:
        remedy = (f"style-aligned refinement recovers the utility: Avg@{k} {aligned['avg_at_k']:.3f}, "
                  f"at least native's {native['avg_at_k']:.3f}")
    elif aligned["avg_at_k"] > best_oracle:
        remedy = (f"style-aligned refinement recovers part of it: Avg@{k} {aligned['avg_at_k']:.3f}, above every "
                  f"Oracle corpus (best {best_oracle:.3f}) but below native's {native['avg_at_k']:.3f}")
    else:
        remedy = (f"style-aligned refinement does not recover it: Avg@{k} {aligned['avg_at_k']:.3f}, no better "
                  f"than the best Oracle corpus ({best_oracle:.3f})")
    return f"{sentence}; {remedy}."


def markdown_table(rows: list[dict], reward_columns: list[str], k: int) -> str:
    columns = (
        [("corpus", "corpus"), ("covered", "problems")]
        + [(c, c.removeprefix("reward_") + " reward") for c in reward_columns]
        + [("perplexity", "ppl"), ("ppl_q1", "Q1"), ("ppl_q2", "Q2"), ("ppl_q3", "Q3"), ("ppl_q4", "Q4"),
           ("edit_distance", "edit dist."), ("char3_jsd", "char-3 JSD"), ("length_ratio", "length ratio"),
           ("judge_score", "judge (1-5)"), ("same_operations", "same ops"), ("greedy_accuracy", "greedy"),
           ("avg_at_k", f"Avg@{k}"), ("delta_avg_at_k", f"Δ Avg@{k}"), ("delta_greedy", "Δ greedy")]
    )

    def cell(key: str, value) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:+.3f}" if key.startswith("delta") else f"{value:.3f}"
        return str(value)

    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(key, row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def scatter(rows: list[dict], x: str, path: Path, *, xlabel: str, k: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for row in rows:
        if row.get(x) is None:
            continue
        ax.scatter(row[x], row["avg_at_k"])
        ax.annotate(row["corpus"], (row[x], row["avg_at_k"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"Avg@{k} after training")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_report(corpora: list[str], reward_columns: list[str], *, root: Path = Path(".")) -> dict:
    """Write the summary table, plots and sentence under ``root``; returns what ``metrics/summary.json`` holds."""
    rows, base = collect(corpora, root)
    k = base["k"]
    primary = reward_columns[0] if reward_columns else None
    accuracy = [r["avg_at_k"] for r in rows]
    correlations = {"perplexity_vs_avg_at_k": spearman([r["perplexity"] for r in rows], accuracy)}
    for column in reward_columns:
        correlations[f"{column.removeprefix('reward_')}_vs_avg_at_k"] = spearman([r[column] for r in rows], accuracy)
    sentence = verdict(rows, primary, k) if primary else "No reward model in this run, so the paradox cannot be judged."
    summary = {"base": {"greedy_accuracy": base["greedy_accuracy"], "avg_at_k": base["avg_at_k"], "k": k},
               "corpora": {r["corpus"]: r for r in rows}, "spearman": correlations, "verdict": sentence}
    plots = root / paths.PLOTS
    if primary:
        scatter(rows, primary, plots / "reward_vs_accuracy.png",
                xlabel=f"{primary.removeprefix('reward_')} reward", k=k)
    scatter(rows, "perplexity", plots / "perplexity_vs_accuracy.png", xlabel="SLM perplexity on the corpus", k=k)
    points = [{"corpus": r["corpus"], "reward": r[primary] if primary else None, "perplexity": r["perplexity"],
               "avg_at_k": r["avg_at_k"], "greedy_accuracy": r["greedy_accuracy"]} for r in rows]
    (plots / "corpora.json").write_text(json.dumps(points, indent=2) + "\n")
    correlation_lines = "\n".join(f"- {name.replace('_', ' ')}: "
                                   + ("n/a" if value is None else f"{value:+.2f}")
                                   for name, value in correlations.items())
    text = (f"# Quality against utility\n\n{sentence}\n\n"
            f"Base SLM: greedy {base['greedy_accuracy']:.3f}, Avg@{k} {base['avg_at_k']:.3f}.\n\n"
            f"{markdown_table(rows, reward_columns, k)}\n\n"
            f"Spearman correlations across the {len(rows)} corpora:\n{correlation_lines}\n\n"
            "![reward vs accuracy](plots/reward_vs_accuracy.png) "
            "![perplexity vs accuracy](plots/perplexity_vs_accuracy.png)\n")
    (root / paths.SUMMARY_REPORT).write_text(text)
    return summary
