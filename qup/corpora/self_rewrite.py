"""Kind ``self_rewrite``: the SLM rewrites another corpus's traces in its own words (SDFT's rule).

Each trace of the source corpus (an Oracle corpus) goes to the SLM with a versioned prompt; the rewrite is
kept when its answer matches the gold, else the source's trace stays. Every row says which (``source``:
this corpus for a kept rewrite, the source corpus for a fallback) and every rewrite is an attempt with the
reason it fell back (``wrong_answer``, ``no_answer``, ``truncated``, ``error``...).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from qup.corpora.build import grade_attempts
from qup.engines import FAILED, Engine, Sampling, Usage, check_failures
from qup.prompts import Prompt
from qup.records import corpus_frame
from qup.shards import run_sharded

TOY_SLM = ("the toy SLM cannot follow instructions: it continues a toy question in its own style and cannot "
           "rewrite a trace it is shown. Kind self_rewrite needs a real SLM (presets/real-cpu.yaml, "
           "docs/real-models.md)")
REWRITE_SCHEMA = {"problem_id": pl.String, "rewrite": pl.String, "finish_reason": pl.String,
                  "n_tokens": pl.Int64, "prompt_tokens": pl.Int64}


def rewrite(engine: Engine, prompt: Prompt, source: pl.DataFrame, *, sampling: Sampling, model: dict,
            cache_dir: Path, shard_size: int) -> pl.DataFrame:
    """The SLM's rewrite of every trace of ``source``, resumable by shard."""
    rows = source.select("problem_id", "question", "response").rows(named=True)
    index = {row["problem_id"]: i for i, row in enumerate(rows)}

    def work(shard) -> pl.DataFrame:
        chats = [[{"role": "user", "content": prompt.render(question=r["question"], trace=r["response"])}]
                 for r in shard]
        replies = engine.generate(chats, 1, sampling, seeds=[index[r["problem_id"]] for r in shard])
        return pl.DataFrame({"problem_id": [r["problem_id"] for r in shard], "rewrite": [c[0].text for c in replies],
                             "finish_reason": [c[0].finish_reason for c in replies],
                             "n_tokens": [c[0].n_tokens for c in replies],
                             "prompt_tokens": [c[0].prompt_tokens for c in replies]}, schema=REWRITE_SCHEMA)

    key = {"model": model["revision"], "engine": engine.name, "prompt": prompt.id, "template": prompt.template,
           "sampling": sampling.__dict__, "traces": [r["response"] for r in rows]}
    return run_sharded(rows, work, key=key, cache_dir=cache_dir, shard_size=shard_size, desc="self_rewrite",
                       unit="trace")


def self_rewrite_corpus(name: str, source_name: str, source: pl.DataFrame, rewrites: pl.DataFrame, *,
                        shared: list[str], model: dict, engine: str, prompt: Prompt,
                        max_error_share: float) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Corpus ``name``: per trace of ``source``, the SLM's rewrite where its answer matches the gold, else the
    trace itself (the corpus schema, then ``source`` and ``rewrite_kept``); every rewrite graded; metrics."""
    check_failures(zip(rewrites["finish_reason"], rewrites["rewrite"]), rewrites.height, max_share=max_error_share,
                   what=f"corpus@{name}'s rewrites")
    source = corpus_frame(source)
    original = source.select("problem_id", "question", "gold", pl.col("trace_id").alias("parent_id"),
                             pl.col("response").alias("source_response"))
    graded = grade_attempts(original.join(rewrites.rename({"rewrite": "response"}), on="problem_id", how="left"),
                            max_edit=None)
    kept = pl.col("drop_reason").is_null()
    rows = source.join(graded.select("problem_id", pl.col("response").alias("rewrite"),
                                     pl.col("answer").alias("rewrite_answer"), "drop_reason",
                                     pl.col("edit_distance").alias("rewrite_edit"),
                                     pl.col("verbatim_prefix").alias("rewrite_prefix")), on="problem_id", how="left")
    rows = rows.with_columns(
        pl.lit(name).alias("corpus"), pl.col("trace_id").alias("parent_id"),
        pl.format(f"{name}:{{}}", "problem_id").alias("trace_id"),
        pl.col("response").alias("source_response"),
        pl.when(kept).then("rewrite").otherwise("response").alias("response"),
        pl.when(kept).then("rewrite_answer").otherwise("answer").alias("answer"),
        pl.when(kept).then(pl.lit(engine)).otherwise("engine").alias("engine"),
        pl.when(kept).then(pl.lit(model["id"])).otherwise("model").alias("model"),
        pl.when(kept).then(pl.lit(prompt.id)).otherwise("prompt").alias("prompt"),
        pl.when(kept).then("rewrite_edit").otherwise(0.0).alias("edit_distance"),
        pl.when(kept).then("rewrite_prefix").otherwise(1.0).alias("verbatim_prefix"),
        pl.lit(None, pl.Float64).alias("judge_score"), pl.lit(None, pl.Boolean).alias("same_operations"),
        pl.when(kept).then(pl.lit(name)).otherwise(pl.lit(source_name)).alias("source"),
        kept.alias("rewrite_kept"))
    corpus = pl.concat([corpus_frame(rows), rows.select("source", "rewrite_kept")], how="horizontal").sort(
        "problem_id")
    fallbacks = dict(graded["drop_reason"].drop_nulls().value_counts().iter_rows())
    usage = Usage(calls=rewrites.height, prompt_tokens=int(rewrites["prompt_tokens"].sum() or 0),
                  completion_tokens=int(rewrites["n_tokens"].sum() or 0))
    failed = int(rewrites["finish_reason"].is_in(FAILED).sum())
    metrics = {"corpus": name, "kind": "self_rewrite", "from": source_name, "shared_problems": len(shared),
               "covered": corpus.height, "coverage": corpus.height / len(shared) if shared else 0.0,
               "dropped": {"not_in_source": len(shared) - corpus.height},
               "rewrites_kept": int(corpus["rewrite_kept"].sum()),
               "kept_share": float(corpus["rewrite_kept"].mean() or 0.0),
               "fallbacks": {reason: int(n) for reason, n in fallbacks.items()}, "failed_requests": failed,
               "mean_chars": float(corpus["response"].str.len_chars().mean() or 0.0),
               "mean_edit_distance": float(corpus.filter(pl.col("rewrite_kept"))["edit_distance"].mean() or 0.0),
               "engine": engine, "model": model["id"], **usage.metrics(None)}
    return corpus, graded, metrics
