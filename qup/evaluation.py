"""Utility: a checkpoint's accuracy on the test split, kept per problem, per training objective and seed, and per
sample.

Every sample keeps its extracted answer and whether it is right, so anyone can recompute the
figures: greedy accuracy, Avg@k (pass@1 averaged over k samples), maj@k (majority vote over the
extracted answers) and unbiased pass@k, each with an interval over training seeds and problems.
A sample whose request failed (``qup.engines.FAILED``) has no answer and is never right; each sample's
finish reason is kept (``sample_finishes``) for the metrics, which count them, and left out of the
results table, whose layout the report reads.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import polars as pl

from qup.engines import FAILED, USAGE_FIELDS, Engine, Sampling, Usage, finish_counts
from qup.grading import extract_answer, grade_many, vote_key
from qup.prompts import Prompt
from qup.shards import run_sharded
from qup.stats import crossed_bootstrap, majority_correct, pass_at_k

TEST_SPLIT = "test"  # the test split's name among the evaluation sets (the others: params evaluate.benchmarks)
RESULTS_VERSION = 4  # part of every shard's key: shards cached in an older layout are never read back
RESULT_SCHEMA = {"seed": pl.Int64, "problem_id": pl.String, "greedy_response": pl.String,
                 "greedy_answer": pl.String, "greedy_correct": pl.Boolean, "greedy_finish": pl.String,
                 "sample_answers": pl.List(pl.String), "samples_correct": pl.List(pl.Boolean),
                 "n_correct": pl.Int64, "mean_tokens": pl.Float64,
                 **{name: pl.Int64 for name in USAGE_FIELDS}}  # the problem's usage: greedy and sampled requests
# what ``evaluate_model`` returns and caches: also each sample's finish reason, counted, not written (``results_table``)
EVALUATED_SCHEMA = {**RESULT_SCHEMA, "sample_finishes": pl.List(pl.String)}


def evaluate_model(engine: Engine, problems: pl.DataFrame, *, prompt: Prompt, k: int, temperature: float,
                   max_new_tokens: int, seed: int, cache_dir: Path, shard_size: int, key: dict,
                   training_seed: int | None = None) -> pl.DataFrame:
    """Per test problem: the greedy answer and each of k samples, extracted and graded.

    ``seed`` seeds the sampling (the same for every checkpoint, so paired comparisons share their
    random numbers); ``training_seed`` labels the rows (None for a model that was not trained here).
    """
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
            graded = zip(verdicts[i * (k + 1):(i + 1) * (k + 1)], g + s)
            right = [v and c.finish_reason not in FAILED for v, c in graded]
            out.append({"seed": training_seed, "problem_id": r["id"], "greedy_response": g[0].text,
                        "greedy_answer": answer(g[0]), "greedy_correct": right[0],
                        "greedy_finish": g[0].finish_reason, "sample_answers": [answer(c) for c in s],
                        "samples_correct": right[1:], "n_correct": sum(right[1:]),
                        "mean_tokens": sum(c.n_tokens for c in s) / k, **asdict(Usage.of([g]) + Usage.of([s])),
                        "sample_finishes": [c.finish_reason for c in s]})
        return pl.DataFrame(out, schema=EVALUATED_SCHEMA)

    key = {**key, "engine": engine.name, "sampler": getattr(engine, "sampler", None), "results": RESULTS_VERSION,
           "stop": getattr(engine, "stop_ids", None), "prompt": prompt.id, "k": k, "temperature": temperature,
           "max_new_tokens": max_new_tokens, "seed": seed}
    return run_sharded(rows, work, key=key, cache_dir=cache_dir, shard_size=shard_size, desc="evaluate",
                       unit="completion", units_per_item=k + 1)  # the greedy one and k samples per problem


def as_itself(model: dict, adapter: str | None, revision: str) -> tuple[dict, str | None, str]:
    """A checkpoint to evaluate (``qup.manifest.checkpoint_model``'s triple) under its own name: a full
    checkpoint's entry is named by its directory, never by the base model's id, so no engine asks a server for
    the base model in its place."""
    return (model if adapter is not None else {**model, "id": model["path"]}), adapter, revision


def answer(completion) -> str | None:
    """A completion's extracted answer; none for a failed request, whose text is its error."""
    return None if completion.finish_reason in FAILED else extract_answer(completion.text)


def of_objective(results: pl.DataFrame, objective: str | None) -> pl.DataFrame:
    """The rows of one training objective's checkpoints (None: the base SLM's) in a results table."""
    if "objective" not in results.columns:
        raise ValueError("the results have no objective column: evaluated before train.objectives existed; "
                         "rerun the evaluate stages (dvc repro)")
    return results.filter(pl.col("objective").is_null() if objective is None else pl.col("objective") == objective)


def results_table(results: pl.DataFrame) -> pl.DataFrame:
    """The results as the stage writes them: without the per-sample finish reasons, which the metrics count."""
    return results.drop("sample_finishes")


def finish_metrics(results: pl.DataFrame) -> dict:
    """How many greedy and sampled completions ended for each finish reason."""
    return {"greedy": finish_counts(results["greedy_finish"].to_list()),
            "samples": finish_counts(results["sample_finishes"].explode().drop_nulls().to_list())}


def failures(results: pl.DataFrame) -> list[tuple[str, str | None]]:
    """Every failed completion as (finish reason, message): a greedy one's message is its response; a sample's
    text is not kept."""
    greedy = [(f, text) for f, text in zip(results["greedy_finish"], results["greedy_response"]) if f in FAILED]
    return greedy + [(f, None) for f in results["sample_finishes"].explode().drop_nulls() if f in FAILED]


def per_problem_scores(results: pl.DataFrame, k: int) -> pl.DataFrame:
    """One row per (seed, problem) with its greedy, Avg@k, maj@k and unbiased pass@k score in [0, 1]."""
    return results.select(
        "seed", "problem_id",
        pl.col("greedy_correct").cast(pl.Float64).alias("greedy_accuracy"),
        (pl.col("n_correct") / k).alias("avg_at_k"),
        pl.struct("sample_answers", "samples_correct").map_elements(
            lambda r: float(majority_correct([vote_key(a) for a in r["sample_answers"]], r["samples_correct"])),
            return_dtype=pl.Float64).alias("maj_at_k"),
        pl.col("n_correct").map_elements(lambda c: pass_at_k(k, c, k), return_dtype=pl.Float64).alias("pass_at_k"),
    )


MEASURES = ("greedy_accuracy", "avg_at_k", "maj_at_k", "pass_at_k")


def score_matrix(scores: pl.DataFrame, measure: str, problem_ids: list[str]) -> tuple[list[int | None], np.ndarray]:
    """``measure`` as a [seeds, problems] matrix over ``problem_ids`` in that order, and the seeds (rows)."""
    duplicated = scores.filter(scores.select("seed", "problem_id").is_duplicated())
    if duplicated.height:
        first = duplicated.row(0, named=True)
        raise ValueError(f"two results for seed {first['seed']}, problem {first['problem_id']}")
    seeds = sorted(scores["seed"].unique().to_list(), key=lambda s: (s is None, s))
    rows = []
    for seed in seeds:
        part = scores.filter(pl.col("seed").is_null() if seed is None else pl.col("seed") == seed)
        by_problem = dict(zip(part["problem_id"].to_list(), part[measure].to_list()))
        missing = [p for p in problem_ids if p not in by_problem]
        if missing:
            raise ValueError(f"seed {seed}: no result for {len(missing)} problems, e.g. {missing[0]}")
        rows.append([by_problem[p] for p in problem_ids])
    return seeds, np.asarray(rows, dtype=float)


def accuracy_metrics(results: pl.DataFrame, k: int, *, resamples: int = 2000, seed: int = 0) -> dict:
    """Each measure's mean with its standard error and 95% interval over seeds and problems, the same
    per training seed, and how often greedy decoding ran out of tokens."""
    scores = per_problem_scores(results, k)
    problem_ids = list(dict.fromkeys(results["problem_id"].to_list()))
    seeds = sorted(scores["seed"].unique().to_list(), key=lambda s: (s is None, s))
    metrics: dict = {"n_test": len(problem_ids), "k": k, "seeds": [s for s in seeds if s is not None]}
    per_seed: dict = {"base" if s is None else str(s): {} for s in seeds}
    for measure in MEASURES:
        _, matrix = score_matrix(scores, measure, problem_ids)
        metrics[measure] = crossed_bootstrap(matrix, seed=seed, resamples=resamples)
        for figures, row in zip(per_seed.values(), matrix):
            figures[measure] = float(row.mean())
    metrics["per_seed"] = per_seed
    metrics["greedy_truncated"] = float((results["greedy_finish"] == "length").mean()) if results.height else 0.0
    metrics["mean_sample_tokens"] = float(results["mean_tokens"].mean()) if results.height else 0.0
    return metrics
