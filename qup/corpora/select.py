"""Kind ``select``: per shared problem, the correct candidate trace maximising ``z(reward) - lambda * z(NLL)``.

The candidates are every correct trace there is for the problem: each of the SLM's correct samples, each trace
of the other corpora drawn from (a text that two sources share counts once, for the first). Both scores come
from ``qup.scoring``, exactly as ``score@<corpus>`` measures them: the reward model's score of the conversation
the SLM trains on, and the SLM's mean NLL per response token. The z-scores are over every candidate of the run,
not per problem: one scale for every problem, defined where a problem has a single candidate, and no
magnification of the tiny differences between near-identical samples of one problem. An affine rescaling keeps
the order within a problem, so lambda 0 picks the highest reward and a large lambda the lowest NLL (GRAPE).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl

from qup.prompts import Prompt
from qup.records import corpus_frame
from qup.scoring.corpus import conversations, nll_columns, reward_column
from qup.scoring.nll import NLLFunction

SCORE_COLUMNS = {"reward": pl.Float64, "nll_per_token": pl.Float64}


def native_candidates(samples: pl.DataFrame, problems: pl.DataFrame, name: str = "native") -> pl.DataFrame:
    """Every correct sample of the SLM, in the corpus schema (trace ``native:<problem>:<sample>``)."""
    questions = problems.select(pl.col("id").alias("problem_id"), "question")
    correct = samples.filter(pl.col("correct")).sort("problem_id", "sample").join(questions, on="problem_id",
                                                                                  how="left")
    return corpus_frame(correct.with_columns(pl.lit(name).alias("corpus"),
                                             pl.format(f"{name}:{{}}:{{}}", "problem_id", "sample").alias("trace_id")))


def candidate_pool(sources: dict[str, pl.DataFrame], shared: list[str]) -> pl.DataFrame:
    """The candidates of the shared problems, each with its ``source`` and its place in the pool (``order``),
    a text two sources share kept once (the first source's)."""
    frames = [corpus_frame(frame).with_columns(pl.lit(source).alias("source")) for source, frame in sources.items()]
    pool = pl.concat(frames) if frames else corpus_frame(pl.DataFrame()).with_columns(source=pl.lit(None, pl.String))
    return (pool.filter(pl.col("problem_id").is_in(shared))
            .unique(["problem_id", "response"], keep="first", maintain_order=True)
            .with_row_index("order"))


def zscore(values: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` over all values; 0 everywhere when they do not vary."""
    std = values.std()
    return (values - values.mean()) / std if std > 0 else np.zeros_like(values)


def pick(pool: pl.DataFrame, lam: float) -> pl.DataFrame:
    """The pool with ``z_reward``, ``z_nll``, ``select_score`` and ``selected`` (one winner per problem: the
    highest score, ties to the earlier candidate)."""
    bad = pool.filter(pl.col("reward").is_null() | pl.col("reward").is_nan()
                      | pl.col("nll_per_token").is_null() | pl.col("nll_per_token").is_nan())
    if bad.height:
        raise ValueError(f"candidate {bad['trace_id'][0]} has no reward or no NLL ({bad.height} candidates)")
    z_reward, z_nll = zscore(pool["reward"].to_numpy()), zscore(pool["nll_per_token"].to_numpy())
    scored = pool.with_columns(pl.Series("z_reward", z_reward), pl.Series("z_nll", z_nll),
                               pl.Series("select_score", z_reward - lam * z_nll))
    winners = (scored.sort("problem_id", pl.col("select_score"), "order", descending=[False, True, False])
               .group_by("problem_id", maintain_order=True).first()["order"])
    return scored.with_columns(pl.col("order").is_in(winners.implode()).alias("selected"))


def _digest(frame: pl.DataFrame) -> str:
    blob = json.dumps(list(zip(frame["question"].to_list(), frame["response"].to_list())))
    return hashlib.sha256(blob.encode()).hexdigest()


def score_pool(pool: pl.DataFrame, *, prompt: Prompt, nll_fn: NLLFunction, slm_key: str, reward_model,
               reward: str, rm_key: str | None, cache_dir: Path, shard_size: int) -> pl.DataFrame:
    """The pool with each candidate's ``reward`` (reward model column ``reward``) and ``nll_per_token``, one
    source at a time, resumable by shard and cached by the texts themselves: several select corpora over the
    same candidates score them once."""
    scored = []
    for (source,), frame in pool.partition_by("source", as_dict=True, maintain_order=True).items():
        pairs, texts = conversations(frame, prompt), _digest(frame)
        nll = nll_columns(nll_fn, pairs, cache_dir=cache_dir / "nll" / source, shard_size=shard_size,
                          key={"slm": slm_key, "prompt": prompt.id, "texts": texts})
        rewards = reward_column(reward, reward_model, pairs, cache_dir=cache_dir / reward / source,
                                shard_size=shard_size, key={"rm": rm_key, "prompt": prompt.id, "texts": texts})
        scored.append(frame.with_columns(pl.Series("reward", rewards, dtype=pl.Float64),
                                         pl.Series("nll_per_token", nll["nll_mean"], dtype=pl.Float64)))
    return pl.concat(scored).sort("order") if scored else pool.with_columns(
        [pl.lit(None, dtype).alias(c) for c, dtype in SCORE_COLUMNS.items()])


def select_corpus(name: str, scored: pl.DataFrame, shared: list[str], *, lam: float,
                  reward_label: str) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """The winners as corpus ``name`` (the corpus schema, then ``source``, ``reward``, ``nll_per_token`` and
    ``select_score``), every candidate with its scores and ``drop_reason`` (``not_selected``), and metrics."""
    picked = pick(scored, lam)
    winners = picked.filter(pl.col("selected"))
    corpus = pl.concat([
        corpus_frame(winners.with_columns(pl.lit(name).alias("corpus"), pl.col("trace_id").alias("parent_id"),
                                          pl.format(f"{name}:{{}}", "problem_id").alias("trace_id"))),
        winners.select("source", "reward", "nll_per_token", "select_score")], how="horizontal").sort("problem_id")
    attempts = picked.select("problem_id", "trace_id", "source", "response", "reward", "nll_per_token", "z_reward",
                             "z_nll", "select_score",
                             pl.when(pl.col("selected")).then(None).otherwise(pl.lit("not_selected"))
                             .alias("drop_reason"))
    won = dict(winners["source"].value_counts().iter_rows())
    offered = dict(picked["source"].value_counts().iter_rows())
    metrics = {"corpus": name, "kind": "select", "lambda": lam, "reward_model": reward_label,
               "shared_problems": len(shared), "covered": corpus.height,
               "coverage": corpus.height / len(shared) if shared else 0.0,
               "dropped": {"no_candidate": len(shared) - corpus.height},
               "mean_chars": float(corpus["response"].str.len_chars().mean() or 0.0),
               "candidates": picked.height,
               "sources": {s: {"candidates": int(n), "won": int(won.get(s, 0))} for s, n in offered.items()},
               "mean_reward": float(corpus["reward"].mean() or 0.0),
               "mean_nll_per_token": float(corpus["nll_per_token"].mean() or 0.0),
               "mean_select_score": float(corpus["select_score"].mean() or 0.0)}
    return corpus, attempts, metrics
