"""`qup compare`: DVC experiments side by side, reduced to what the study measures.

``dvc exp show`` lists every param and metric (hundreds of columns for this pipeline). This reads
its JSON, keeps the params that differ between the chosen experiments, and per corpus the figures
of ``metrics/summary.json``: Avg@k with its interval, Δ Avg@k against native with its paired
interval, reward and perplexity. A plot puts each experiment's utility gap (native − Oracle
Avg@k) against its adaptation-cost gap (the Oracle corpus's perplexity over native's), which is
the dose-response view of a sweep. A third table pools every (experiment, corpus) point: per signal measured
before training, its Spearman correlation with Avg@k (``qup.report.signals``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from qup.records import atomic_write
from qup.report.markdown import interval_text
from qup.report.signals import signal_correlations, signal_values, signals_table

SUMMARY = "metrics/summary.json"
PARAMS = "params.yaml"


@dataclass(frozen=True)
class Experiment:
    name: str
    rev: str
    params: dict[str, object]  # flattened, "models.toy_slm.init_std" -> 0.06
    summary: dict | None  # metrics/summary.json, None where the experiment has none (failed, queued)


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """Nested params as ``a.b.c`` keys; lists stay values."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _file_data(data: dict, kind: str, path: str) -> dict | None:
    entry = (data.get(kind) or {}).get(path) or {}
    return entry.get("data")


def _experiment(entry: dict) -> Experiment | None:
    data = entry.get("data")
    if not data:
        return None
    rev = entry.get("rev") or data.get("rev") or ""
    name = entry.get("name") or data.get("name") or (rev if rev == "workspace" else rev[:7])
    params = _file_data(data, "params", PARAMS) or {}
    return Experiment(name=name, rev=rev, params=flatten(params), summary=_file_data(data, "metrics", SUMMARY))


def parse_exp_show(rows: list[dict]) -> list[Experiment]:
    """Every experiment in ``dvc exp show --json`` output: the workspace, each baseline commit and
    the experiments run on it, in that order."""
    found = []
    for entry in rows:
        if (exp := _experiment(entry)) is not None:
            found.append(exp)
        for group in entry.get("experiments") or []:
            for revision in group.get("revs") or []:
                if (exp := _experiment(revision)) is not None:
                    found.append(exp)
    return found


def read_experiments(repo: Path = Path("."), all_commits: bool = False) -> list[Experiment]:
    """The experiments DVC knows in ``repo`` (``dvc exp show --json``)."""
    args = ["exp", "show", "--json"] + (["--all-commits"] if all_commits else [])
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`dvc {' '.join(args)}` failed in {repo}: {done.stderr.strip()[-500:]}")
    return parse_exp_show(json.loads(done.stdout))


def select(experiments: list[Experiment], wanted: list[str]) -> list[Experiment]:
    """The experiments named in ``wanted`` (name, ``workspace``, or a revision prefix), in that order;
    all of them with a summary when ``wanted`` is empty."""
    if not wanted:
        return [e for e in experiments if e.summary is not None]
    chosen = []
    for key in wanted:
        match = [e for e in experiments if e.name == key or (len(key) >= 4 and e.rev.startswith(key))]
        if not match:
            known = ", ".join(e.name for e in experiments) or "none"
            raise KeyError(f"no experiment {key!r}; `dvc exp show` knows: {known}")
        chosen.append(match[0])
    return chosen


def differing_params(experiments: list[Experiment]) -> list[str]:
    """The param keys whose value is not the same in every experiment."""
    keys = sorted({k for e in experiments for k in e.params})
    return [k for k in keys if len({json.dumps(e.params.get(k), sort_keys=True) for e in experiments}) > 1]


def _mean(block: dict | None) -> float | None:
    return None if not block else block.get("mean")


def _reward(row: dict) -> str:
    rewards = row.get("reward") or {}
    return ", ".join(f"{_mean(block):.3f}" for block in rewards.values() if _mean(block) is not None) or "–"


def adaptation_points(exp: Experiment) -> list[dict]:
    """Per Oracle corpus of one experiment: the utility gap (native − corpus Avg@k, with the paired
    interval) and the adaptation-cost gap (the corpus's perplexity over native's)."""
    corpora = (exp.summary or {}).get("corpora", {})
    native = corpora.get("native")
    points = []
    for name, row in corpora.items():
        if row.get("role") != "oracle" or native is None:
            continue
        delta, ppl = row.get("delta_vs_native"), _mean(row.get("perplexity"))
        ppl_native = _mean(native.get("perplexity"))
        if not delta or ppl is None or not ppl_native:
            continue
        points.append({"experiment": exp.name, "corpus": name, "ppl_ratio": ppl / ppl_native,
                       "utility_gap": -delta["mean"], "ci_low": -delta["ci_high"], "ci_high": -delta["ci_low"],
                       "jsd": row.get("char3_jsd")})
    return points


def pooled_signals(experiments: list[Experiment]) -> dict[str, dict]:
    """Per pre-training signal, its Spearman correlation with Avg@k over every (experiment, corpus) point."""
    return signal_correlations([((row.get("avg_at_k") or {}).get("mean"), signal_values(row))
                                for e in experiments if e.summary
                                for row in e.summary.get("corpora", {}).values()])


def markdown(experiments: list[Experiment]) -> str:
    """Three tables: what differs and the verdict per experiment, per experiment and corpus the figures, and
    which pre-training signal predicts utility over all of them."""
    keys = differing_params(experiments)
    lines = ["| experiment | params that differ | paradox | remedy vs native | remedy vs best Oracle |",
             "|---|---|---|---|---|"]
    for e in experiments:
        verdicts = (e.summary or {}).get("verdicts", {})
        remedy = verdicts.get("remedy", {})
        differs = "; ".join(f"{k}={json.dumps(e.params.get(k))}" for k in keys) or "–"
        lines.append(f"| {e.name} | {differs} | {verdicts.get('paradox', {}).get('status', '–')} | "
                     f"{remedy.get('vs_native', {}).get('status', '–')} | "
                     f"{remedy.get('vs_best_oracle', {}).get('status', '–')} |")
    k = next((e.summary.get("k") for e in experiments if e.summary), "k")
    lines += ["", f"| experiment | corpus | Avg@{k} [95% CI] | Δ Avg@{k} vs native [95% CI] | reward | perplexity |",
              "|---|---|---|---|---|---|"]
    for e in experiments:
        if e.summary is None:
            lines.append(f"| {e.name} | (no metrics/summary.json) | – | – | – | – |")
            continue
        for name, row in e.summary.get("corpora", {}).items():
            delta = "–" if name == "native" else interval_text(row.get("delta_vs_native"), signed=True, p_value=False)
            ppl = _mean(row.get("perplexity"))
            lines.append(f"| {e.name} | {name} | {interval_text(row.get('avg_at_k'))} | {delta} | {_reward(row)} | "
                         f"{'–' if ppl is None else f'{ppl:.3f}'} |")
        base = e.summary.get("base")
        if base:
            lines.append(f"| {e.name} | base SLM | {interval_text(base.get('avg_at_k'))} | – | – | – |")
    lines += ["", signals_table(pooled_signals(experiments), k, over="(experiment, corpus) points")]
    return "\n".join(lines)


def plot(experiments: list[Experiment], path: Path) -> None:
    """Left: Avg@k per corpus, one bar per experiment, with intervals. Right: utility gap against
    adaptation-cost gap per experiment and Oracle corpus, with the paired intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    with_summary = [e for e in experiments if e.summary]
    corpora = list(dict.fromkeys(c for e in with_summary for c in e.summary.get("corpora", {})))
    fig, (bars, dose) = plt.subplots(1, 2, figsize=(12, 0.6 * len(corpora) * max(1, len(with_summary)) / 2 + 3))
    height = 0.8 / max(1, len(with_summary))
    for i, e in enumerate(with_summary):
        rows = e.summary["corpora"]
        present = [c for c in corpora if c in rows]
        blocks = [rows[c]["avg_at_k"] for c in present]
        y = np.array([corpora.index(c) for c in present]) + i * height
        errors = np.array([[b["mean"] - b["ci_low"] for b in blocks], [b["ci_high"] - b["mean"] for b in blocks]])
        bars.barh(y, [b["mean"] for b in blocks], height=height, xerr=errors, capsize=3, label=e.name)
    bars.set_yticks(np.arange(len(corpora)) + 0.4 - height / 2, corpora)
    bars.invert_yaxis()
    bars.set_xlabel("Avg@k after training (95% interval)")
    bars.legend(fontsize=8)
    points = [p for e in with_summary for p in adaptation_points(e)]
    for point in points:
        err = [[point["utility_gap"] - point["ci_low"]], [point["ci_high"] - point["utility_gap"]]]
        dose.errorbar(point["ppl_ratio"], point["utility_gap"], yerr=err, fmt="o", capsize=3)
        dose.annotate(f"{point['experiment']}: {point['corpus']}", (point["ppl_ratio"], point["utility_gap"]),
                      textcoords="offset points", xytext=(4, 4), fontsize=7)
    ratios = [p["ppl_ratio"] for p in points]
    if ratios and max(ratios) / min(ratios) > 10:  # an unseen style sits orders of magnitude out
        dose.set_xscale("log")
    else:
        dose.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
    dose.axhline(0, color="grey", lw=0.8)
    dose.set_xlabel("adaptation-cost gap: perplexity of the Oracle corpus / native's")
    dose.set_ylabel("utility gap: native − Oracle Avg@k (95% paired interval)")
    for ax in (bars, dose):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
