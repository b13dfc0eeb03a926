"""Rejection sampling: the SLM samples k solutions per problem; its correct ones form the native corpus.

A sample whose request failed (``qup.engines.FAILED``: its response is the failure's message) is kept with
its finish reason, never graded right, and counted in the metrics.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl

from qup.engines import FAILED, Engine, Sampling, Usage, finish_counts
from qup.grading import extract_answer, grade_many
from qup.prompts import Prompt
from qup.records import SAMPLE_SCHEMA, corpus_frame
from qup.shards import run_sharded

SAMPLES_VERSION = 2  # part of every shard's key: shards cached in an older layout are never read back
# each sample row also carries its request's prompt tokens and retries (the same for the problem's k samples)
SAMPLES_SCHEMA = {**SAMPLE_SCHEMA, "prompt_tokens": pl.Int64, "retries": pl.Int64}


def sample_problems(engine: Engine, problems: pl.DataFrame, *, prompt: Prompt, k: int, sampling: Sampling,
                    model: dict, cache_dir: Path, shard_size: int) -> pl.DataFrame:
    """k graded samples per problem, with provenance; resumes from finished shards in ``cache_dir``."""
    rows = problems.select("id", "question", "answer").rows(named=True)
    index = {row["id"]: i for i, row in enumerate(rows)}

    def work(shard) -> pl.DataFrame:
        conversations = [[{"role": "user", "content": prompt.render(question=r["question"])}] for r in shard]
        completions = engine.generate(conversations, k, sampling, seeds=[index[r["id"]] for r in shard])
        records = []
        for r, samples in zip(shard, completions):
            for j, c in enumerate(samples):
                answer = None if c.finish_reason in FAILED else extract_answer(c.text)
                records.append({"problem_id": r["id"], "sample": j, "response": c.text, "answer": answer,
                                "gold": r["answer"], "n_tokens": c.n_tokens,
                                "finish_reason": c.finish_reason, "engine": engine.name, "model": model["id"],
                                "model_revision": model["revision"], "prompt": prompt.id,
                                "prompt_tokens": c.prompt_tokens, "retries": c.retries})
        verdicts = grade_many([(rec["response"], rec["gold"]) for rec in records])
        for rec, verdict in zip(records, verdicts):
            rec["correct"] = verdict and rec["finish_reason"] not in FAILED
        return pl.DataFrame(records, schema=SAMPLES_SCHEMA)

    key = {"model": model["revision"], "engine": engine.name, "sampler": getattr(engine, "sampler", None),
           "prompt": prompt.id, "k": k, "sampling": sampling.__dict__, "samples": SAMPLES_VERSION,
           "stop": getattr(engine, "stop_ids", None)}
    return run_sharded(rows, work, key=key, cache_dir=cache_dir, shard_size=shard_size, desc="native",
                       unit="sample", units_per_item=k)


def pick_native_corpus(samples: pl.DataFrame, problems: pl.DataFrame, *, rule: str, seed: int) -> pl.DataFrame:
    """One correct sample per solved problem, chosen by ``rule`` (first, random, shortest), never by reward."""
    correct = samples.filter(pl.col("correct"))
    if rule == "first":
        chosen = correct.sort("problem_id", "sample").group_by("problem_id", maintain_order=True).first()
    elif rule == "shortest":
        chosen = correct.sort("problem_id", "n_tokens", "sample").group_by("problem_id", maintain_order=True).first()
    elif rule == "random":
        rng = random.Random(seed)
        groups = correct.sort("problem_id", "sample").partition_by("problem_id", maintain_order=True)
        chosen = pl.concat([g[rng.randrange(g.height)] for g in groups]) if groups else correct
    else:
        raise ValueError(f"unknown pick rule {rule!r}; choose first, random or shortest")
    questions = problems.select(pl.col("id").alias("problem_id"), "question")
    corpus = chosen.join(questions, on="problem_id", how="left").with_columns(
        pl.lit("native").alias("corpus"), pl.format("native:{}:{}", "problem_id", "sample").alias("trace_id"))
    return corpus_frame(corpus).sort("problem_id")


def native_metrics(samples: pl.DataFrame, n_problems: int, k: int) -> dict:
    """pass@1 (mean over all samples), pass@k, coverage, lengths, unparseable outputs and how many samples
    ended for each finish reason."""
    per_problem = samples.group_by("problem_id").agg(pl.col("correct").any().alias("solved"))
    solved = int(per_problem["solved"].sum())
    return {
        "problems": n_problems,
        "k": k,
        "samples": samples.height,
        "pass_at_1": float(samples["correct"].mean()),
        "pass_at_k": solved / n_problems,
        "coverage": solved / n_problems,
        "shared_problems": solved,
        "mean_tokens": float(samples["n_tokens"].mean()),
        "mean_chars": float(samples["response"].str.len_chars().mean()),
        "no_answer": int(samples["answer"].is_null().sum()),
        "truncated": int((samples["finish_reason"] == "length").sum()),
        "finish_reasons": finish_counts(samples["finish_reason"].to_list()),
    }


def native_usage(samples: pl.DataFrame) -> Usage:
    """Every sample a call; each problem's request (all its k samples) counted once for prompt and retries."""
    requests = samples.filter(pl.col("sample") == 0)
    return Usage(calls=samples.height, prompt_tokens=int(requests["prompt_tokens"].sum()),
                 completion_tokens=int(samples["n_tokens"].sum()), retries=int(requests["retries"].sum()))
