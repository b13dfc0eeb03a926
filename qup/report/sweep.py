"""The `select` λ sweep: utility against λ across a run's `select` corpora that differ only in λ.

A run that declares several `select` corpora (``presets/compare-methods.yaml``: λ 0, where the reward alone picks,
up to large λ, GRAPE's pick by the SLM's likelihood) gets a table and a plot of Avg@k and its paired Δ vs native
against λ; every point shares the run's problems and training seeds, so the Δs are paired.
"""

from __future__ import annotations

from qup.config import CorpusSpec

SWEEP_PLOT = "select_lambda.png"  # under reports/plots


def select_sweep(corpora: dict[str, CorpusSpec], rows: dict[str, dict]) -> list[dict]:
    """One point per `select` corpus, by λ: its reward model, pool, Avg@k and Δ Avg@k vs native (empty unless
    there are at least two such corpora with the same reward model and pool)."""
    picks = [(name, spec) for name, spec in corpora.items() if spec.kind == "select" and name in rows]
    families = {(spec.reward_model, tuple(spec.pool or ())) for _, spec in picks}
    if len(picks) < 2 or len(families) != 1:
        return []
    return [{"corpus": name, "lambda": spec.lam, "reward_model": spec.reward_model,
             "avg_at_k": rows[name]["avg_at_k"], "delta_vs_native": rows[name].get("delta_vs_native")}
            for name, spec in sorted(picks, key=lambda pick: pick[1].lam)]


def sweep_markdown(points: list[dict], k: int, interval_text) -> str:
    """The sweep's section of ``reports/summary.md`` ('' without a sweep)."""
    if not points:
        return ""
    lines = [f"| λ | corpus | Avg@{k} [95% CI] | Δ Avg@{k} vs native |", "|---|---|---|---|"]
    lines += [f"| {p['lambda']:g} | {p['corpus']} | {interval_text(p['avg_at_k'])} | "
              f"{interval_text(p['delta_vs_native'], True)} |" for p in points]
    return ("## The select λ sweep\n\nPer shared problem, the correct candidate trace maximising z(reward) − "
            "λ·z(SLM NLL per token): λ 0 picks by reward alone, a large λ by the SLM's likelihood (GRAPE). Each Δ "
            "is paired with native on the same problems and seeds.\n\n" + "\n".join(lines)
            + f"\n\n![select λ sweep](plots/{SWEEP_PLOT})")

