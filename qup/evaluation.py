"""Utility: a checkpoint's accuracy on the test split, greedy and Avg@k (mean accuracy over k samples)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from qup.engines import Engine, Sampling
from qup.grading import grade_many
from qup.prompts import Prompt
from qup.shards import run_sharded

RESULT_SCHEMA = {"problem_id": pl.String, "greedy_response": pl.String, "greedy_correct": pl.Boolean,
                 "greedy_finish": pl.String, "samples_correct": pl.List(pl.Boolean), "n_correct": pl.Int64,
                 "mean_tokens": pl.Float64}


def evaluate_model(engine: Engine, problems: pl.DataFrame, *, prompt: Prompt, k: int, temperature: float,
                   max_new_tokens: int, seed: int, cache_dir: Path, shard_size: int, key: dict) -> pl.DataFrame:
    """Per test problem: the greedy answer and whether it is right, and which of k samples are right."""
    rows = problems.select("id", "question", "answer").rows(named=True)
    index = {row["id"]: i for i, row in enumerate(rows)}

    def work(shard) -> pl.DataFrame:
        conversations = [[{"role": "user", "content": prompt.render(question=r["question"])}] for r in shard]
        seeds = [index[r["id"]] for r in shard]
        greedy = engine.generate(conversations, 1, Sampling(temperature=0.0, max_new_tokens=max_new_tokens,
                                                            seed=seed), seeds=seeds)
        sampled = engine.generate(conversations, k, Sampling(temperature=temperature, max_new_tokens=max_new_tokens,
                                                             seed=seed), seeds=seeds)
        verdicts = grade_many([(c.text, r["answer"]) for r, g, s in zip(shard, greedy, sampled) for c in g + s])
        out = []
        for i, (r, g, s) in enumerate(zip(shard, greedy, sampled)):
            right = verdicts[i * (k + 1):(i + 1) * (k + 1)]
            out.append({"problem_id": r["id"], "greedy_response": g[0].text, "greedy_correct": right[0],
                        "greedy_finish": g[0].finish_reason, "samples_correct": right[1:], "n_correct": sum(right[1:]),
                        "mean_tokens": sum(c.n_tokens for c in s) / k})
        return pl.DataFrame(out, schema=RESULT_SCHEMA)

    key = {**key, "engine": engine.name, "prompt": prompt.id, "k": k, "temperature": temperature,
           "max_new_tokens": max_new_tokens, "seed": seed}
    return run_sharded(rows, work, key=key, cache_dir=cache_dir, shard_size=shard_size, desc="evaluate",
                       unit="problem")


def accuracy_metrics(results: pl.DataFrame, k: int) -> dict:
    """Greedy accuracy, Avg@k, pass@k and how often greedy decoding ran out of tokens."""
    n = results.height
    return {
        "n_test": n,
        "k": k,
        "greedy_accuracy": float(results["greedy_correct"].mean()) if n else 0.0,
        "avg_at_k": float((results["n_correct"] / k).mean()) if n else 0.0,
        "pass_at_k": float((results["n_correct"] > 0).mean()) if n else 0.0,
        "greedy_truncated": float((results["greedy_finish"] == "length").mean()) if n else 0.0,
        "mean_sample_tokens": float(results["mean_tokens"].mean()) if n else 0.0,
    }
