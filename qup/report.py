"""The study's report: quality against utility, one row per corpus, each figure with its interval.

Reads what every stage wrote (coverage, scores, per-problem evaluation results per training seed)
and writes ``reports/summary.md``, ``metrics/summary.json``, plots (PNG, and JSON for DVC plots),
Spearman correlations across corpora with intervals, and a three-way verdict (``qup.verdict``).

Utility is compared *paired*: every corpus is evaluated on the same test problems with the same
training seeds (and the same sampling seeds), so Δ Avg@k comes from per-problem, per-seed
differences, with a bootstrap interval over seeds and problems and that bootstrap's two-sided p-value.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from qup import paths
from qup.evaluation import MEASURES, TEST_SPLIT, per_problem_scores, score_matrix
from qup.stats import crossed_bootstrap, minimum_detectable_effect, paired_difference, spearman_interval
from qup.verdict import ORACLE_CORPORA, adaptation, sentence

QUARTERS = ("ppl_q1", "ppl_q2", "ppl_q3", "ppl_q4")
CONTENT_SPLIT = ("ppl_content", "ppl_template")


def _read(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it (dvc repro)")
    return json.loads(path.read_text())


def _read_results(path: Path, benchmark: str = TEST_SPLIT) -> pl.DataFrame:
    """One evaluation's results on ``benchmark`` (results written before benchmarks existed are the test split's)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it (dvc repro)")
    results = pl.read_parquet(path)
    if "benchmark" not in results.columns:
        return results if benchmark == TEST_SPLIT else results.clear()
    return results.filter(pl.col("benchmark") == benchmark)


def benchmark_names(root: Path) -> list[str]:
    """The benchmarks the base SLM was evaluated on, the test split first."""
    results = pl.read_parquet(root / paths.eval_results("base"))
    if "benchmark" not in results.columns:
        return [TEST_SPLIT]
    names = list(dict.fromkeys(results["benchmark"].to_list()))
    return [TEST_SPLIT, *(n for n in names if n != TEST_SPLIT)]


def utility_matrices(root: Path, names: list[str], k: int, benchmark: str = TEST_SPLIT
                     ) -> tuple[list[str], list[int], dict[str, dict]]:
    """Per evaluated model, each measure as a [seeds, problems] matrix over the same problems and seeds.

    The base SLM has one row (it was not trained); it is repeated for every seed so that it pairs.
    """
    scores = {name: per_problem_scores(_read_results(root / paths.eval_results(name), benchmark), k)
              for name in names}
    problem_ids = list(dict.fromkeys(scores["base"]["problem_id"].to_list()))
    matrices: dict[str, dict] = {}
    seeds: list[int] = []
    for name, frame in scores.items():
        matrices[name] = {}
        for measure in MEASURES:
            row_seeds, matrix = score_matrix(frame, measure, problem_ids)
            matrices[name][measure] = matrix
            if name != "base":
                if seeds and row_seeds != seeds:
                    raise ValueError(f"{paths.eval_results(name)}: seeds {row_seeds}, but other corpora have {seeds}")
                seeds = row_seeds
    for measure in MEASURES:
        matrices["base"][measure] = np.repeat(matrices["base"][measure][:1], max(1, len(seeds)), axis=0)
    return problem_ids, seeds, matrices


def collect(corpora: list[str], root: Path = Path("."), *, seed: int = 0, resamples: int = 2000) -> dict:
    """Every figure of the report, as ``metrics/summary.json`` holds it."""
    k = _read(root / paths.eval_metrics("base"))["k"]
    problem_ids, seeds, matrices = utility_matrices(root, ["base", *corpora], k)
    base = {m: crossed_bootstrap(matrices["base"][m], seed=seed, resamples=resamples) for m in MEASURES}
    rows = {}
    for name in corpora:
        quality = _read(root / paths.quality_metrics(name))
        built = _read(root / paths.corpus_metrics(name))
        row = {"corpus": name, "covered": built.get("covered", built.get("shared_problems")),
               "shared_problems": built.get("shared_problems"), "reward": quality["reward"],
               "perplexity": quality["perplexity"], "corpus_perplexity": quality.get("corpus_perplexity"),
               **{q: quality[q] for q in QUARTERS}, **{part: quality.get(part) for part in CONTENT_SPLIT},
               "edit_distance": quality.get("edit_distance"), "char3_jsd": quality["style"]["char3_jsd"],
               "length_ratio": quality["style"]["length_ratio"], "judge_score": built.get("mean_judge_score"),
               "same_operations": built.get("same_operations_share")}
        for measure in MEASURES:
            row[measure] = crossed_bootstrap(matrices[name][measure], seed=seed, resamples=resamples)
        row["delta_vs_base"] = paired_difference(matrices[name]["avg_at_k"], matrices["base"]["avg_at_k"],
                                                 seed=seed, resamples=resamples)
        if "native" in corpora:
            row["delta_vs_native"] = paired_difference(matrices[name]["avg_at_k"], matrices["native"]["avg_at_k"],
                                                       seed=seed, resamples=resamples)
        rows[name] = row
    oracles = [c for c in ORACLE_CORPORA if c in rows]
    best_oracle = max(oracles, key=lambda c: rows[c]["avg_at_k"]["mean"]) if oracles else None
    vs_best = None
    if best_oracle and "style_aligned" in rows:
        vs_best = paired_difference(matrices["style_aligned"]["avg_at_k"], matrices[best_oracle]["avg_at_k"],
                                    seed=seed, resamples=resamples)
    # the smallest true Δ Avg@k this budget detects (80% power, two-sided α 0.05), from the paired SEs
    ses = [r["delta_vs_native"]["se"] for n, r in rows.items() if n != "native" and "delta_vs_native" in r]
    mde = minimum_detectable_effect(float(np.median(ses))) if ses else None
    return {"seeds": seeds, "k": k, "n_test": len(problem_ids), "base": base, "corpora": rows,
            "best_oracle": best_oracle, "style_aligned_vs_best_oracle": vs_best,
            "minimum_detectable_effect": mde,
            "benchmarks": benchmark_figures(root, corpora, k, seed=seed, resamples=resamples)}


def benchmark_figures(root: Path, corpora: list[str], k: int, *, seed: int = 0, resamples: int = 2000) -> dict:
    """Per benchmark (the test split included), each model's measures with intervals and, per corpus, its paired
    Δ Avg@k vs native; and Avg@k averaged over the benchmarks, each weighing the same."""
    figures: dict = {}
    for benchmark in benchmark_names(root):
        problem_ids, _, matrices = utility_matrices(root, ["base", *corpora], k, benchmark)
        models = {}
        for name in ["base", *corpora]:
            models[name] = {m: crossed_bootstrap(matrices[name][m], seed=seed, resamples=resamples) for m in MEASURES}
            if "native" in corpora and name not in ("base", "native"):
                models[name]["delta_vs_native"] = paired_difference(
                    matrices[name]["avg_at_k"], matrices["native"]["avg_at_k"], seed=seed, resamples=resamples)
        figures[benchmark] = {"n_problems": len(problem_ids), "models": models}
    averages = {name: _average([figures[b]["models"][name]["avg_at_k"] for b in figures])
                       for name in ["base", *corpora]}
    return {"per_benchmark": figures, "average_avg_at_k": averages}


def _average(blocks: list[dict]) -> dict:
    """The mean of independent estimates, its se and a normal 95% interval (benchmarks share no problems)."""
    mean = float(np.mean([b["mean"] for b in blocks]))
    se = float(np.sqrt(sum(b["se"] ** 2 for b in blocks)) / len(blocks))
    return {"mean": mean, "se": se, "ci_low": mean - 1.96 * se, "ci_high": mean + 1.96 * se}


def correlations(rows: dict[str, dict], reward_labels: list[str]) -> dict:
    """Spearman's rho across corpora of each reward model and of perplexity with Avg@k, with a Fisher-z interval."""
    names = list(rows)
    accuracy = [rows[n]["avg_at_k"]["mean"] for n in names]
    out = {"perplexity_vs_avg_at_k": spearman_interval([rows[n]["perplexity"]["mean"] for n in names], accuracy)}
    for label in reward_labels:
        out[f"{label}_vs_avg_at_k"] = spearman_interval([rows[n]["reward"][label]["mean"] for n in names], accuracy)
    return out


def interval_text(block: dict | None, signed: bool = False, p_value: bool = True) -> str:
    """``mean [low, high]`` of a ``{mean, ci_low, ci_high}`` block, its p-value after it when it has one."""
    if not block or block.get("mean") is None:
        return "–"
    sign = "+" if signed else ""
    text = f"{block['mean']:{sign}.3f}"
    if block.get("ci_low") is not None:
        text += f" [{block['ci_low']:{sign}.3f}, {block['ci_high']:{sign}.3f}]"
    if p_value and "p_value" in block:
        text += f" p={block['p_value']:.2g}"
    return text


def _plain(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        value = value.get("mean")
        if value is None:
            return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(rows: dict[str, dict], base: dict, reward_labels: list[str], k: int) -> str:
    """Quality (reward, perplexity, style) and utility (with intervals) per corpus, the base SLM last."""
    head = (["corpus", "problems"] + [f"{label} reward" for label in reward_labels]
            + ["ppl", "ppl (tokens)", "content", "template", "Q1", "Q2", "Q3", "Q4", "edit dist.", "char-3 JSD",
               "judge (1-5)", "greedy", f"Avg@{k} [95% CI]", f"maj@{k}", f"pass@{k}", f"Δ Avg@{k} vs native",
               f"Δ Avg@{k} vs base"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        cells = ([name, _plain(r["covered"])] + [interval_text(r["reward"][label]) for label in reward_labels]
                 + [_plain(r["perplexity"]), _plain(r.get("corpus_perplexity"))]
                 + [_plain(r.get(part)) for part in CONTENT_SPLIT] + [_plain(r[q]) for q in QUARTERS]
                 + [_plain(r["edit_distance"]), _plain(r["char3_jsd"]), _plain(r["judge_score"]),
                    _plain(r["greedy_accuracy"]), interval_text(r["avg_at_k"]), _plain(r["maj_at_k"]),
                    _plain(r["pass_at_k"]), "–" if name == "native" else interval_text(r.get("delta_vs_native"), True),
                    interval_text(r["delta_vs_base"], True)])
        lines.append("| " + " | ".join(cells) + " |")
    blanks = ["–"] * (len(reward_labels) + 11)
    lines.append("| " + " | ".join(["base SLM", "–", *blanks, _plain(base["greedy_accuracy"]),
                                    interval_text(base["avg_at_k"]), _plain(base["maj_at_k"]),
                                    _plain(base["pass_at_k"]), "–", "–"]) + " |")
    return "\n".join(lines)


def benchmark_tables(figures: dict, k: int) -> str:
    """A table per benchmark (greedy, Avg@k, maj@k, pass@k, Δ vs native), then Avg@k side by side and averaged."""
    names = list(figures["per_benchmark"])
    parts = []
    for benchmark, block in figures["per_benchmark"].items():
        head = ["model", "greedy", f"Avg@{k} [95% CI]", f"maj@{k}", f"pass@{k}", f"Δ Avg@{k} vs native"]
        lines = [f"**{benchmark}** ({block['n_problems']} problems)", "",
                 "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, m in block["models"].items():
            lines.append("| " + " | ".join([
                "base SLM" if name == "base" else name, _plain(m["greedy_accuracy"]), interval_text(m["avg_at_k"]),
                _plain(m["maj_at_k"]), _plain(m["pass_at_k"]), interval_text(m.get("delta_vs_native"), True)]) + " |")
        parts.append("\n".join(lines))
    head = ["model", *(f"{b} Avg@{k}" for b in names), f"average Avg@{k} [95% CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, average in figures["average_avg_at_k"].items():
        cells = [_plain(figures["per_benchmark"][b]["models"][name]["avg_at_k"]) for b in names]
        lines.append("| " + " | ".join(["base SLM" if name == "base" else name, *cells, interval_text(average)]) + " |")
    parts.append("Across benchmarks (each weighing the same; the interval treats them as independent):\n\n"
                 + "\n".join(lines))
    return "\n\n".join(parts)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _errors(blocks: list[dict]) -> np.ndarray:
    """matplotlib's asymmetric error bars from ``{mean, ci_low, ci_high}`` blocks."""
    return np.array([[b["mean"] - b["ci_low"] for b in blocks], [b["ci_high"] - b["mean"] for b in blocks]])


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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scatter(rows: dict[str, dict], x_of, path: Path, *, xlabel: str, k: int) -> None:
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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_report(corpora: list[str], reward_columns: list[str], *, root: Path = Path("."), seed: int = 0,
                 resamples: int = 2000) -> dict:
    """Write the summary table, plots and verdict under ``root``; returns what ``metrics/summary.json`` holds."""
    summary = collect(corpora, root, seed=seed, resamples=resamples)
    rows, k = summary["corpora"], summary["k"]
    labels = [c.removeprefix("reward_") for c in reward_columns]
    primary = labels[0] if labels else None
    summary["spearman"] = correlations(rows, labels)
    summary["verdict"], summary["verdicts"] = sentence(
        rows, primary, k, best_oracle=summary["best_oracle"], vs_best_oracle=summary["style_aligned_vs_best_oracle"],
        mde=summary["minimum_detectable_effect"])
    summary["adaptation"], summary["verdicts"]["adaptation_cost"] = adaptation(
        rows, k, summary["spearman"]["perplexity_vs_avg_at_k"])
    plots = root / paths.PLOTS
    utility_plot(rows, summary["base"], plots / "utility.png", k)
    if primary:
        scatter(rows, lambda r: r["reward"][primary], plots / "reward_vs_accuracy.png", xlabel=f"{primary} reward",
                k=k)
    scatter(rows, lambda r: r["perplexity"], plots / "perplexity_vs_accuracy.png",
            xlabel="SLM perplexity on the corpus", k=k)
    points = [{"corpus": n, "reward": r["reward"][primary]["mean"] if primary else None,
               "perplexity": r["perplexity"]["mean"], "avg_at_k": r["avg_at_k"]["mean"],
               "avg_at_k_low": r["avg_at_k"]["ci_low"], "avg_at_k_high": r["avg_at_k"]["ci_high"],
               "greedy_accuracy": r["greedy_accuracy"]["mean"]} for n, r in rows.items()]
    (plots / "corpora.json").write_text(json.dumps(points, indent=2) + "\n")
    (root / paths.SUMMARY_REPORT).write_text(markdown(summary, labels))
    return summary


def markdown(summary: dict, labels: list[str]) -> str:
    rows, k, base = summary["corpora"], summary["k"], summary["base"]
    seeds = summary["seeds"]
    correlation_lines = "\n".join(
        f"- {name.replace('_', ' ')}: " + ("n/a" if v["rho"] is None else f"{v['rho']:+.2f}")
        + ("" if v["ci_low"] is None else f" [{v['ci_low']:+.2f}, {v['ci_high']:+.2f}]")
        for name, v in summary["spearman"].items())
    mde = summary["minimum_detectable_effect"]
    return (
        f"# Quality against utility\n\n{summary['verdict']}\n\n{summary['adaptation']}\n\n"
        f"Utility: {summary['n_test']} test problems × {len(seeds)} training seed{'s' if len(seeds) != 1 else ''} "
        f"({', '.join(map(str, seeds))}) × k={k} samples. Intervals are 95% bootstrap intervals over seeds and "
        "problems (both resampled); Δ columns are paired (same problems, same seeds), with the two-sided p-value "
        "of the same bootstrap. Perplexity is the SLM's, per trace then averaged over the corpus (ppl), and over "
        "all the corpus's tokens at once (ppl (tokens), the study's definition); content counts the tokens that "
        "carry digits or operators, template the rest."
        + (f" Minimum detectable effect at this budget (80% power, α 0.05): {mde:.3f} Avg@{k}." if mde else "")
        + f"\n\n{markdown_table(rows, base, labels, k)}\n\n"
        f"Spearman correlations across the {len(rows)} corpora (95% Fisher-z interval):\n{correlation_lines}\n\n"
        f"## Per benchmark\n\n{benchmark_tables(summary['benchmarks'], k)}\n\n"
        "![utility](plots/utility.png)\n"
        "![reward vs accuracy](plots/reward_vs_accuracy.png)\n"
        "![perplexity vs accuracy](plots/perplexity_vs_accuracy.png)\n")
