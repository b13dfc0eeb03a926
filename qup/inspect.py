"""One problem in every corpus side by side: each trace against the SLM's source trace, with its scores."""

from __future__ import annotations

import difflib
import random
from pathlib import Path

import polars as pl

from qup import paths

SCORE_COLUMNS = ("perplexity", "edit_distance")


def diff_markup(source: str, text: str) -> str:
    """``text`` with what differs from ``source`` marked: ``[+inserted+]`` and ``[-deleted-]``."""
    out = []
    matcher = difflib.SequenceMatcher(a=source, b=text, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            out.append(text[b0:b1])
            continue
        if a1 > a0:
            out.append(f"[-{source[a0:a1]}-]")
        if b1 > b0:
            out.append(f"[+{text[b0:b1]}+]")
    return "".join(out)


def load_view(problem_id: str | None, corpora: list[str], *, root: Path = Path("."),
              seed: int | None = None) -> dict:
    """The problem, its source SLM trace and each corpus's trace with scores; a random problem of
    the shared set when ``problem_id`` is None."""
    frames = {name: pl.read_parquet(root / paths.corpus(name)) for name in corpora
              if (root / paths.corpus(name)).exists()}
    if not frames:
        raise FileNotFoundError(f"no corpus under {root / paths.corpus('native').parent}; run `dvc repro` first")
    if problem_id is None:
        pool = sorted(set().union(*(set(f["problem_id"]) for f in frames.values())))
        problem_id = random.Random(seed).choice(pool)
    problems = pl.concat([pl.read_parquet(root / split) for split in (paths.TRAIN_PROBLEMS, paths.TEST_PROBLEMS)
                          if (root / split).exists()])
    match = problems.filter(pl.col("id") == problem_id)
    if match.is_empty():
        raise KeyError(f"no problem {problem_id!r} in data/problems")
    problem = match.row(0, named=True)
    traces, source = [], None
    for name, frame in frames.items():
        rows = frame.filter(pl.col("problem_id") == problem_id)
        if rows.is_empty():
            traces.append({"corpus": name, "response": None, "scores": {}})
            continue
        row = rows.row(0, named=True)
        source = source or row.get("source_response")
        scores_path = root / paths.scores(name)
        scores = {}
        if scores_path.exists():
            scored = pl.read_parquet(scores_path).filter(pl.col("trace_id") == row["trace_id"])
            if scored.height:
                values = scored.row(0, named=True)
                scores = {k: v for k, v in values.items()
                          if (k.startswith("reward_") or k in SCORE_COLUMNS) and v is not None}
        traces.append({"corpus": name, "response": row["response"], "parent_id": row.get("parent_id"),
                       "scores": scores})
    return {"problem": problem, "source": source, "traces": traces}


def render_view(view: dict) -> str:
    """The view as text: question, gold, source trace, then every corpus's trace diffed against it."""
    problem = view["problem"]
    lines = [f"problem {problem['id']}: {problem['question']}", f"gold answer: {problem['answer']}", ""]
    source = view["source"]
    if source is not None:
        lines += ["SLM source trace (what the refinements started from):", source, ""]
    for trace in view["traces"]:
        scores = "  ".join(f"{k.removeprefix('reward_')}={v:.3f}" for k, v in trace["scores"].items())
        lines.append(f"== {trace['corpus']}  {scores}".rstrip())
        if trace["response"] is None:
            lines.append("(no trace: this corpus dropped the problem)")
        else:
            lines.append(diff_markup(source, trace["response"]) if source is not None else trace["response"])
        lines.append("")
    return "\n".join(lines)
