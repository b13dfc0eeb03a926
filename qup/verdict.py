"""The study's two claims as three-way verdicts: *shows*, *does not show* or *cannot tell at this budget*.

A claim is shown only when an interval excludes zero in its direction, never from point estimates:
- the paradox, per Oracle corpus (params ``corpora``, role ``oracle``): its reward is above native's
  (reward intervals apart) AND its paired Δ Avg@k against native lies below 0;
- the remedy (the corpus of role ``remedy``, style-aligned refinement in the study): its paired Δ Avg@k
  against the best Oracle corpus, and against native, lies above 0.
And the mechanism, per corpus: adaptation cost orders with utility when the corpus's perplexity
interval lies above native's and its Δ Avg@k below 0 (or both the other way).
"""

from __future__ import annotations

SHOWS, DOES_NOT_SHOW, CANNOT_TELL = "shows", "does not show", "cannot tell at this budget"


def side(interval: dict) -> str:
    """Where an interval lies against 0: ``above``, ``below`` or ``spans``."""
    if interval["ci_low"] > 0:
        return "above"
    if interval["ci_high"] < 0:
        return "below"
    return "spans"


def interval_side(corpus: dict, native: dict) -> str:
    """``above`` when the corpus's interval (of reward, perplexity, ...) lies wholly above native's,
    ``below`` when wholly below, else ``spans`` (also when either has no interval, e.g. an empty corpus)."""
    if None in (corpus.get("ci_low"), corpus.get("ci_high"), native.get("ci_low"), native.get("ci_high")):
        return "spans"
    if corpus["ci_low"] > native["ci_high"]:
        return "above"
    if corpus["ci_high"] < native["ci_low"]:
        return "below"
    return "spans"


def delta_text(delta: dict) -> str:
    return f"Δ {delta['mean']:+.3f} [{delta['ci_low']:+.3f}, {delta['ci_high']:+.3f}], p={delta['p_value']:.3g}"


def paradox(rows: dict[str, dict], reward: str, oracles: list[str]) -> dict:
    """Per Oracle corpus and overall: does it score a higher reward than native yet train to a lower Avg@k?

    ``rows[name]`` holds ``reward`` (``{label: {mean, ci_low, ci_high}}``) and ``delta_vs_native``.
    """
    native = rows["native"]["reward"][reward]
    per_corpus = {}
    for name in (c for c in oracles if c in rows):
        quality = interval_side(rows[name]["reward"][reward], native)
        utility = side(rows[name]["delta_vs_native"])
        if quality == "above" and utility == "below":
            status = SHOWS
        elif quality == "below" or utility == "above":
            status = DOES_NOT_SHOW
        else:
            status = CANNOT_TELL
        per_corpus[name] = {"status": status, "reward_side": quality, "delta_side": utility}
    statuses = [v["status"] for v in per_corpus.values()]
    overall = SHOWS if SHOWS in statuses else DOES_NOT_SHOW if statuses and all(
        s == DOES_NOT_SHOW for s in statuses) else CANNOT_TELL
    return {"status": overall, "corpora": per_corpus}


def remedy(rows: dict[str, dict], name: str, vs_best_oracle: dict | None, best_oracle: str | None) -> dict:
    """Does the remedy ``name`` train to a higher Avg@k than the best Oracle corpus, and than native?"""
    out = {"corpus": name, "vs_native": _gain(rows[name]["delta_vs_native"])}
    if vs_best_oracle is not None:
        out["vs_best_oracle"] = {**_gain(vs_best_oracle), "corpus": best_oracle}
    return out


def _gain(delta: dict) -> dict:
    where = side(delta)
    status = SHOWS if where == "above" else DOES_NOT_SHOW if where == "below" else CANNOT_TELL
    return {"status": status, "delta": delta}


def sentence(rows: dict[str, dict], reward: str | None, k: int, *, oracles: list[str], remedy_corpus: str | None,
             best_oracle: str | None = None, vs_best_oracle: dict | None = None,
             mde: float | None = None) -> tuple[str, dict]:
    """The report's verdict in words, and the same as data: the paradox over ``oracles``, the remedy
    ``remedy_corpus`` (None: none declared)."""
    if reward is None:
        return "No reward model in this run, so the paradox cannot be judged.", {}
    if "native" not in rows:
        return "No native corpus in this run, so the paradox cannot be judged.", {}
    if not any(c in rows for c in oracles):
        return "No Oracle corpus in this run, so the paradox cannot be judged.", {}
    label = reward.removeprefix("reward_")
    found = paradox(rows, label, oracles)
    native_reward = rows["native"]["reward"][label]["mean"]
    parts = [f"{name} reward {rows[name]['reward'][label]['mean']:.3f} vs native {native_reward:.3f}, "
             f"Avg@{k} {delta_text(rows[name]['delta_vs_native'])} ({verdict['status']})"
             for name, verdict in found["corpora"].items()]
    budget = f" (minimum detectable effect {mde:.3f})" if mde is not None else ""
    claim = {SHOWS: "shows it", DOES_NOT_SHOW: "does not show it", CANNOT_TELL: "cannot tell it at this budget"}
    text = f"The paradox: this run {claim[found['status']]}{budget}: " + "; ".join(parts) + "."
    verdicts = {"paradox": found}
    if remedy_corpus in rows:
        found_remedy = remedy(rows, remedy_corpus, vs_best_oracle, best_oracle)
        verdicts["remedy"] = found_remedy
        pieces = []
        if "vs_best_oracle" in found_remedy:
            best = found_remedy["vs_best_oracle"]
            pieces.append(f"against the best Oracle corpus ({best_oracle}) it {_gain_words(best['status'])}, "
                          f"{delta_text(best['delta'])}")
        near = found_remedy["vs_native"]
        pieces.append(f"against native it {_gain_words(near['status'])}, {delta_text(near['delta'])}")
        text += f" The remedy, {remedy_corpus}: {'; '.join(pieces)}."
    else:
        text += " There is no remedy corpus (role remedy) to test."
    return text, verdicts


def _gain_words(status: str) -> str:
    words = {SHOWS: "shows a gain", DOES_NOT_SHOW: "does not show a gain (it trains to less)",
             CANNOT_TELL: "cannot tell at this budget"}
    return words[status]


def adaptation(rows: dict[str, dict], k: int, rank: dict | None = None) -> tuple[str, dict]:
    """Does adaptation cost (the SLM's perplexity on a corpus) order with utility, corpus by corpus against
    native, and (``rank``: Spearman's rho with its interval) does it rank the corpora as utility does?"""
    if "native" not in rows:
        return "No native corpus in this run, so adaptation cost cannot be compared.", {}
    native = rows["native"]["perplexity"]
    per_corpus, parts = {}, []
    for name, row in rows.items():
        if name == "native" or "delta_vs_native" not in row:
            continue
        cost, utility = interval_side(row["perplexity"], native), side(row["delta_vs_native"])
        if "spans" in (cost, utility):
            status = CANNOT_TELL
        else:
            status = SHOWS if (cost == "above") == (utility == "below") else DOES_NOT_SHOW
        per_corpus[name] = {"status": status, "perplexity_side": cost, "delta_side": utility}
        words = {SHOWS: "orders", DOES_NOT_SHOW: "against", CANNOT_TELL: "cannot tell"}[status]
        ppl = row["perplexity"]["mean"]
        parts.append(f"{name} perplexity {'–' if ppl is None else f'{ppl:.3f}'}, Avg@{k} "
                     f"{delta_text(row['delta_vs_native'])} ({words})")
    ordered = sum(v["status"] == SHOWS for v in per_corpus.values())
    against = sum(v["status"] == DOES_NOT_SHOW for v in per_corpus.values())
    text = (f"Adaptation cost: against native (perplexity {native['mean']:.3f}), the SLM's perplexity orders with "
            f"utility for {ordered} of {len(per_corpus)} corpora and against it for {against}, the rest "
            f"within their intervals: " + "; ".join(parts) + ".")
    if rank and rank.get("rho") is not None:
        ranks = ("cannot tell" if rank.get("ci_low") is None or rank["ci_low"] <= 0 <= rank["ci_high"]
                 else "it does" if rank["ci_high"] < 0 else "it ranks them the other way")
        interval = "" if rank.get("ci_low") is None else f" [{rank['ci_low']:+.2f}, {rank['ci_high']:+.2f}]"
        text += (f" Whether perplexity ranks the corpora as utility does (lower perplexity, higher Avg@{k}): "
                 f"Spearman {rank['rho']:+.2f}{interval}, {ranks}.")
    return text, {"corpora": per_corpus, "ordered": ordered, "against": against}
