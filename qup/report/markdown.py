"""``reports/summary.md``: the report's numbers (``qup.report.summary``) as Markdown tables and sentences."""

from __future__ import annotations

from qup.report.signals import signals_table
from qup.report.sweep import sweep_markdown
from qup.scoring.corpus import CONTENT_SPLIT, QUARTERS

# (header, row key) of the main table's quality columns after the reward models' (each a mean, no interval)
QUALITY_COLUMNS = (("ppl", "perplexity"), ("ppl (tokens)", "corpus_perplexity"),
                   *zip(("content", "template"), CONTENT_SPLIT), *zip(("Q1", "Q2", "Q3", "Q4"), QUARTERS),
                   ("edit dist.", "edit_distance"), ("char-3 JSD", "char3_jsd"), ("judge (1-5)", "judge_score"))


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
    """A number (or a block's mean) to three decimals; anything else as it is; "–" for none."""
    if value is None:
        return "–"
    if isinstance(value, dict):
        value = value.get("mean")
        if value is None:
            return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: the header, its rule, one line per row."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    return "\n".join([line(head), "|" + "---|" * len(head), *map(line, rows)])


def _model_name(name: str) -> str:
    return "base SLM" if name == "base" else name


def _utility_head(k: int) -> list[str]:
    return ["greedy", f"Avg@{k} [95% CI]", f"maj@{k}", f"pass@{k}"]


def _utility_cells(measures: dict) -> list[str]:
    """Greedy accuracy, Avg@k with its interval, maj@k and pass@k of one model."""
    return [_plain(measures["greedy_accuracy"]), interval_text(measures["avg_at_k"]), _plain(measures["maj_at_k"]),
            _plain(measures["pass_at_k"])]


def _quality_head(reward_labels: list[str]) -> list[str]:
    return [f"{label} reward" for label in reward_labels] + [header for header, _ in QUALITY_COLUMNS]


def _quality_cells(row: dict, reward_labels: list[str]) -> list[str]:
    """Coverage, each reward with its interval and the quality columns of one corpus."""
    return [_plain(row["covered"]), *(interval_text(row["reward"][label]) for label in reward_labels),
            *(_plain(row[key]) for _, key in QUALITY_COLUMNS)]


def markdown_table(rows: dict[str, dict], base: dict, reward_labels: list[str], k: int) -> str:
    """Quality (reward, perplexity, style) and utility (with intervals) per corpus, the base SLM last."""
    quality_head = _quality_head(reward_labels)
    head = ["corpus", "problems", *quality_head, *_utility_head(k), f"Δ Avg@{k} vs native", f"Δ Avg@{k} vs base"]
    lines = []
    for name, r in rows.items():
        lines.append([name, *_quality_cells(r, reward_labels), *_utility_cells(r),
                      "–" if name == "native" else interval_text(r.get("delta_vs_native"), True),
                      interval_text(r["delta_vs_base"], True)])
    lines.append(["base SLM", "–", *["–"] * len(quality_head), *_utility_cells(base), "–", "–"])
    return _table(head, lines)


def objectives_table(rows: dict[str, dict], objectives: dict[str, dict], reward_labels: list[str], k: int) -> str:
    """A run of several training objectives: each corpus's quality once, then a column group per objective
    (greedy, Avg@k with its interval, Δ Avg@k vs native), the base SLM last."""
    quality_head = _quality_head(reward_labels)
    head = ["corpus", "problems", *quality_head,
            *(f"{o} {h}" for o in objectives for h in ("greedy", f"Avg@{k} [95% CI]", f"Δ Avg@{k} vs native"))]
    lines = []
    for name, r in rows.items():
        cells = [name, *_quality_cells(r, reward_labels)]
        for view in objectives.values():
            u = view["corpora"][name]
            cells += [_plain(u["greedy_accuracy"]), interval_text(u["avg_at_k"]),
                      "–" if name == "native" else interval_text(u.get("delta_vs_native"), True)]
        lines.append(cells)
    base = ["base SLM", "–", *["–"] * len(quality_head)]
    for view in objectives.values():
        base += [_plain(view["base"]["greedy_accuracy"]), interval_text(view["base"]["avg_at_k"]), "–"]
    lines.append(base)
    return _table(head, lines)


def benchmark_tables(figures: dict, k: int) -> str:
    """A table per benchmark (greedy, Avg@k, maj@k, pass@k, Δ vs native), then Avg@k side by side and averaged."""
    names = list(figures["per_benchmark"])
    parts = []
    for benchmark, block in figures["per_benchmark"].items():
        head = ["model", *_utility_head(k), f"Δ Avg@{k} vs native"]
        lines = [[_model_name(name), *_utility_cells(m), interval_text(m.get("delta_vs_native"), True)]
                 for name, m in block["models"].items()]
        parts.append(f"**{benchmark}** ({block['n_problems']} problems)\n\n" + _table(head, lines))
    head = ["model", *(f"{b} Avg@{k}" for b in names), f"average Avg@{k} [95% CI]"]
    lines = [[_model_name(name), *(_plain(figures["per_benchmark"][b]["models"][name]["avg_at_k"]) for b in names),
              interval_text(average)] for name, average in figures["average_avg_at_k"].items()]
    parts.append("Across benchmarks (each weighing the same; the interval treats them as independent):\n\n"
                 + _table(head, lines))
    return "\n\n".join(parts)


def markdown(summary: dict, reward_labels: list[str]) -> str:
    """The whole of ``reports/summary.md``: verdict, how utility was measured, the tables and the plots; a run of
    several training objectives gives the verdicts, the main table's utility and the benchmark tables per
    objective, the primary first."""
    rows, k, base = summary["corpora"], summary["k"], summary["base"]
    seeds = summary["seeds"]
    objectives = summary.get("objectives") or {}
    several = len(objectives) > 1
    correlation_lines = "\n".join(
        f"- {name.replace('_', ' ')}: " + ("n/a" if v["rho"] is None else f"{v['rho']:+.2f}")
        + ("" if v["ci_low"] is None else f" [{v['ci_low']:+.2f}, {v['ci_high']:+.2f}]")
        for name, v in summary["spearman"].items())
    mde = summary["minimum_detectable_effect"]
    sweep = sweep_markdown(summary.get("select_sweep", []), k, interval_text)
    if several:
        primary = next(iter(objectives))
        verdicts = "\n\n".join(f"**{name}**{' (primary)' if name == primary else ''}: {view['verdict']}\n\n"
                                 f"{view['adaptation']}" for name, view in objectives.items())
        trained = (f" per training objective ({', '.join(objectives)}; each paired within itself, the primary "
                   f"{primary}'s figures in the correlations, the signal table and the plots)")
        table = objectives_table(rows, objectives, reward_labels, k)
        benchmarks = "\n\n".join(f"### {name}\n\n{benchmark_tables(view['benchmarks'], k)}"
                                   for name, view in objectives.items())
    else:
        verdicts = f"{summary['verdict']}\n\n{summary['adaptation']}"
        trained = ""
        table = markdown_table(rows, base, reward_labels, k)
        benchmarks = benchmark_tables(summary["benchmarks"], k)
    return (
        f"# Quality against utility\n\n{verdicts}\n\n"
        f"Utility: {summary['n_test']} test problems × {len(seeds)} training seed{'s' if len(seeds) != 1 else ''} "
        f"({', '.join(map(str, seeds))}) × k={k} samples{trained}. Intervals are 95% bootstrap intervals over seeds "
        "and problems (both resampled); Δ columns are paired (same problems, same seeds), with the two-sided p-value "
        "of the same bootstrap. Perplexity is the SLM's, per trace then averaged over the corpus (ppl), and over "
        "all the corpus's tokens at once (ppl (tokens), the study's definition); content counts the tokens that "
        "carry digits or operators, template the rest."
        + (f" Minimum detectable effect at this budget (80% power, α 0.05): {mde:.3f} Avg@{k}." if mde else "")
        + f"\n\n{table}\n\n"
        f"Spearman correlations across the {len(rows)} corpora (95% Fisher-z interval):\n{correlation_lines}\n\n"
        f"{signals_table(summary['signals'], k)}\n\n"
        + (f"{sweep}\n\n" if sweep else "")
        + f"## Per benchmark\n\n{benchmarks}\n\n"
        "![utility](plots/utility.png)\n"
        "![reward vs accuracy](plots/reward_vs_accuracy.png)\n"
        "![perplexity vs accuracy](plots/perplexity_vs_accuracy.png)\n")
