"""Kind ``mix``: two corpora mixed at a share, per problem (Mix distillation).

Over the problems both corpora cover, an exact seeded split: ``round(share * n)`` problems, drawn by a
permutation seeded from params ``seed`` and the corpus's name, take the first corpus's trace, the rest the
second's. Exact rather than a coin per problem, so the share trained on is the share asked for, with no
sampling noise between two mixes of a sweep.
"""

from __future__ import annotations

import math
import random

import polars as pl

from qup.records import corpus_frame


def split(problems: list[str], share: float, seed: str) -> set[str]:
    """The problems (``round(share * n)``, halves up) that take the first corpus's trace."""
    order = sorted(problems)
    random.Random(seed).shuffle(order)
    return set(order[:math.floor(share * len(order) + 0.5)])


def mix_corpus(name: str, first: tuple[str, pl.DataFrame], second: tuple[str, pl.DataFrame], *, share: float,
               seed: int, shared: list[str]) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Corpus ``name`` (the corpus schema, then ``source``), every trace of both corpora with its ``drop_reason``
    (``not_drawn``; ``not_in_both`` for a problem only one covers), and metrics."""
    (a, frame_a), (b, frame_b) = first, second
    both = sorted(set(frame_a["problem_id"]) & set(frame_b["problem_id"]) & set(shared))
    from_a = split(both, share, f"{seed}:{name}")
    rows = pl.concat([corpus_frame(frame_a).with_columns(pl.lit(a).alias("source")),
                      corpus_frame(frame_b).with_columns(pl.lit(b).alias("source"))])
    drawn = pl.col("problem_id").is_in(list(from_a)) == (pl.col("source") == a)
    attempts = rows.with_columns(pl.when(~pl.col("problem_id").is_in(both)).then(pl.lit("not_in_both"))
                                 .when(drawn).then(None).otherwise(pl.lit("not_drawn")).alias("drop_reason"))
    kept = attempts.filter(pl.col("drop_reason").is_null())
    corpus = pl.concat([
        corpus_frame(kept.with_columns(pl.lit(name).alias("corpus"), pl.col("trace_id").alias("parent_id"),
                                       pl.format(f"{name}:{{}}", "problem_id").alias("trace_id"))),
        kept.select("source")], how="horizontal").sort("problem_id")
    metrics = {"corpus": name, "kind": "mix", "of": [a, b], "share": share,
               "realised_share": len(from_a) / len(both) if both else 0.0, "shared_problems": len(shared),
               "covered": corpus.height, "coverage": corpus.height / len(shared) if shared else 0.0,
               "dropped": {"not_in_both": len(shared) - corpus.height},
               "sources": {a: {"candidates": frame_a.height, "won": len(from_a)},
                           b: {"candidates": frame_b.height, "won": len(both) - len(from_a)}},
               "mean_chars": float(corpus["response"].str.len_chars().mean() or 0.0)}
    return corpus, attempts.select("problem_id", "trace_id", "source", "response", "drop_reason"), metrics
