"""The report's numbers, as ``metrics/summary.json`` holds them: per corpus its quality and its utility with
intervals, paired differences, per-benchmark figures, correlations across corpora and the verdict.

Utility is compared *paired*: every corpus is evaluated on the same test problems with the same
training seeds (and the same sampling seeds), so Δ Avg@k comes from per-problem, per-seed
differences, with a bootstrap interval over seeds and problems and that bootstrap's two-sided p-value. A run
of several training objectives is judged once per objective, each paired within itself (the base SLM pairs with
every one); the top-level figures are the primary objective's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from qup import paths
from qup.config import CorpusSpec, with_role
from qup.evaluation import MEASURES
from qup.report.inputs import benchmark_names, evaluated_objectives, read_json, utility_matrices
from qup.report.signals import run_signals
from qup.report.sweep import select_sweep
from qup.scoring.corpus import CONTENT_SPLIT, QUARTERS
from qup.stats import (
    crossed_bootstrap,
    mean_of_independent,
    minimum_detectable_effect,
    paired_difference,
    spearman_interval,
)
from qup.verdict import adaptation, sentence


def summarize(corpora: dict[str, CorpusSpec], reward_columns: list[str], root: Path = Path("."), *, seed: int = 0,
              resamples: int = 2000) -> dict:
    """Everything ``metrics/summary.json`` holds: the figures, the correlations and the verdicts of the primary
    training objective, and under ``objectives`` each objective's (the primary first) verdicts and utility."""
    judged = {objective: judge(corpora, reward_columns, root, objective=objective, seed=seed, resamples=resamples)
              for objective in evaluated_objectives(root, list(corpora)) or [None]}
    summary = next(iter(judged.values()))
    summary["objectives"] = {objective: objective_view(one) for objective, one in judged.items() if objective}
    return summary


def judge(corpora: dict[str, CorpusSpec], reward_columns: list[str], root: Path, *, objective: str | None, seed: int,
          resamples: int) -> dict:
    """The figures, correlations and verdicts of one training objective's checkpoints."""
    summary = collect(corpora, root, objective=objective, seed=seed, resamples=resamples)
    rows, k = summary["corpora"], summary["k"]
    labels = reward_labels(reward_columns)
    summary["spearman"] = correlations(rows, labels)
    summary["signals"] = run_signals(rows)
    summary["verdict"], summary["verdicts"] = sentence(
        rows, labels[0] if labels else None, k, oracles=with_role(corpora, "oracle"),
        remedy_corpus=summary["remedy"], best_oracle=summary["best_oracle"],
        vs_best_oracle=summary["remedy_vs_best_oracle"], mde=summary["minimum_detectable_effect"])
    summary["adaptation"], summary["verdicts"]["adaptation_cost"] = adaptation(
        rows, k, summary["spearman"]["perplexity_vs_avg_at_k"])
    sweep = select_sweep(corpora, rows)
    if sweep:  # only a run with several select corpora has one
        summary["select_sweep"] = sweep
    return summary


# a row's figures that depend on the training objective (the rest, quality, are the corpus's)
UTILITY_KEYS = (*MEASURES, "delta_vs_base", "delta_vs_native")
# the summary's figures that depend on the training objective, besides its rows'
OBJECTIVE_KEYS = ("verdict", "verdicts", "adaptation", "spearman", "signals", "base", "best_oracle",
                  "remedy_vs_best_oracle", "minimum_detectable_effect", "benchmarks")


def objective_view(summary: dict) -> dict:
    """What ``metrics/summary.json`` keeps of one objective under ``objectives``: its verdicts and its utility
    figures (each row's, the base SLM's, per benchmark)."""
    return {**{key: summary[key] for key in OBJECTIVE_KEYS},
            "corpora": {name: {key: row[key] for key in UTILITY_KEYS if key in row}
                        for name, row in summary["corpora"].items()}}


def reward_labels(reward_columns: list[str]) -> list[str]:
    """The reward models' names (``reward_toy_orm`` -> ``toy_orm``), the primary one first."""
    return [c.removeprefix("reward_") for c in reward_columns]


def collect(corpora: dict[str, CorpusSpec], root: Path = Path("."), *, objective: str | None = None, seed: int = 0,
            resamples: int = 2000) -> dict:
    """Every figure of the report for the checkpoints of one training ``objective``: per corpus its quality,
    utility and paired Δ Avg@k, the base SLM's utility, the best Oracle corpus, the remedy against it, the minimum
    detectable effect and the per-benchmark figures."""
    k = read_json(root / paths.eval_metrics("base"))["k"]
    problem_ids, seeds, matrices = utility_matrices(root, ["base", *corpora], k, objective=objective)
    delta = _paired_avg_at_k(matrices, seed=seed, resamples=resamples)
    rows = {}
    for name in corpora:
        rows[name] = {"corpus": name, "role": getattr(corpora[name], "role", corpora[name].kind),
                      **quality_figures(root, name),
                      **measure_intervals(matrices[name], seed=seed, resamples=resamples),
                      "delta_vs_base": delta(name, "base")}
        if "native" in corpora:
            rows[name]["delta_vs_native"] = delta(name, "native")
    oracles = with_role(corpora, "oracle")
    remedy = next(iter(with_role(corpora, "remedy")), None)
    best_oracle = max(oracles, key=lambda c: rows[c]["avg_at_k"]["mean"]) if oracles else None
    vs_best = delta(remedy, best_oracle) if best_oracle and remedy else None
    # the smallest true Δ Avg@k this budget detects (80% power, two-sided α 0.05), from the paired SEs
    ses = [r["delta_vs_native"]["se"] for n, r in rows.items() if n != "native" and "delta_vs_native" in r]
    mde = minimum_detectable_effect(float(np.median(ses))) if ses else None
    return {"seeds": seeds, "k": k, "n_test": len(problem_ids),
            "base": measure_intervals(matrices["base"], seed=seed, resamples=resamples), "corpora": rows,
            "best_oracle": best_oracle, "remedy": remedy, "remedy_vs_best_oracle": vs_best,
            "minimum_detectable_effect": mde,
            "benchmarks": benchmark_figures(root, corpora, k, objective=objective, seed=seed, resamples=resamples)}


def quality_figures(root: Path, corpus: str) -> dict:
    """What the corpus and score stages measured of one corpus: coverage, reward, perplexity, style, judge,
    and a select corpus's mean select score."""
    quality = read_json(root / paths.quality_metrics(corpus))
    built = read_json(root / paths.corpus_metrics(corpus))
    return {"covered": built.get("covered", built.get("shared_problems")),
            "shared_problems": built.get("shared_problems"), "reward": quality["reward"],
            "perplexity": quality["perplexity"], "corpus_perplexity": quality.get("corpus_perplexity"),
            **{q: quality[q] for q in QUARTERS}, **{part: quality.get(part) for part in CONTENT_SPLIT},
            "edit_distance": quality.get("edit_distance"), "char3_jsd": quality["style"]["char3_jsd"],
            "length_ratio": quality["style"]["length_ratio"], "judge_score": built.get("mean_judge_score"),
            "select_score": built.get("mean_select_score"),
            "same_operations": built.get("same_operations_share")}


def measure_intervals(matrices: dict, *, seed: int, resamples: int) -> dict:
    """Each utility measure of one model, its mean with a bootstrap interval over seeds and problems."""
    return {m: crossed_bootstrap(matrices[m], seed=seed, resamples=resamples) for m in MEASURES}


def _paired_avg_at_k(matrices: dict[str, dict], *, seed: int, resamples: int) -> Callable[[str, str], dict]:
    """``delta(a, b)``: model a's Avg@k minus model b's, paired over the same seeds and problems."""
    difference = partial(paired_difference, seed=seed, resamples=resamples)
    return lambda a, b: difference(matrices[a]["avg_at_k"], matrices[b]["avg_at_k"])


def benchmark_figures(root: Path, corpora: list[str], k: int, *, objective: str | None = None, seed: int = 0,
                      resamples: int = 2000) -> dict:
    """Per benchmark (the test split included), each model's measures with intervals and, per corpus, its paired
    Δ Avg@k vs native; and Avg@k averaged over the benchmarks, each weighing the same (``objective``'s checkpoints)."""
    names = ["base", *corpora]
    figures: dict = {}
    for benchmark in benchmark_names(root):
        problem_ids, _, matrices = utility_matrices(root, names, k, benchmark, objective)
        delta = _paired_avg_at_k(matrices, seed=seed, resamples=resamples)
        models = {name: measure_intervals(matrices[name], seed=seed, resamples=resamples) for name in names}
        if "native" in corpora:
            for name in corpora:
                if name != "native":
                    models[name]["delta_vs_native"] = delta(name, "native")
        figures[benchmark] = {"n_problems": len(problem_ids), "models": models}
    # benchmarks share no problems, so their estimates are independent
    averages = {name: mean_of_independent([figures[b]["models"][name]["avg_at_k"] for b in figures])
                for name in names}
    return {"per_benchmark": figures, "average_avg_at_k": averages}


def correlations(rows: dict[str, dict], labels: list[str]) -> dict:
    """Spearman's rho across corpora of each reward model and of perplexity with Avg@k, with a Fisher-z interval."""
    names = list(rows)
    accuracy = [rows[n]["avg_at_k"]["mean"] for n in names]
    out = {"perplexity_vs_avg_at_k": spearman_interval([rows[n]["perplexity"]["mean"] for n in names], accuracy)}
    for label in labels:
        out[f"{label}_vs_avg_at_k"] = spearman_interval([rows[n]["reward"][label]["mean"] for n in names], accuracy)
    return out
