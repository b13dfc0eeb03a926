"""Decontamination: drop training problems that overlap an evaluation set.

open-r1's rule (from s1): lowercase, collapse whitespace, split on spaces, and drop a training problem
that shares any word n-gram with an evaluation problem; and one whose whole normalised text equals an
evaluation problem's (which also covers problems shorter than n words). Every drop is kept with the
evaluation set, its problem and the n-gram it matched.
"""

from __future__ import annotations

import polars as pl

DROP_SCHEMA = {"problem_id": pl.String, "question": pl.String, "benchmark": pl.String,
               "benchmark_problem_id": pl.String, "match": pl.String, "ngram": pl.String}


def normalise(text: str) -> str:
    """Lower case, whitespace collapsed to single spaces."""
    return " ".join(text.lower().split())


def word_ngrams(text: str, n: int) -> list[str]:
    """The word n-grams of the normalised text, in order."""
    words = normalise(text).split()
    return [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


def overlap_index(benchmarks: dict[str, pl.DataFrame], n: int) -> tuple[dict, dict]:
    """For each n-gram and each whole normalised question of the evaluation sets: the first problem of
    each set it occurs in (set name -> problem id)."""
    ngrams: dict[str, dict[str, str]] = {}
    texts: dict[str, dict[str, str]] = {}
    for name, problems in benchmarks.items():
        for problem_id, question in problems.select("id", "question").iter_rows():
            texts.setdefault(normalise(question), {}).setdefault(name, problem_id)
            for gram in word_ngrams(question, n):
                ngrams.setdefault(gram, {}).setdefault(name, problem_id)
    return ngrams, texts


def find_overlaps(train: pl.DataFrame, benchmarks: dict[str, pl.DataFrame], n: int) -> pl.DataFrame:
    """One row per (training problem, evaluation set) that overlap: the first match found."""
    ngrams, texts = overlap_index(benchmarks, n)
    drops = []
    for problem_id, question in train.select("id", "question").iter_rows():
        found = {name: {"benchmark_problem_id": other, "match": "exact", "ngram": None}
                 for name, other in texts.get(normalise(question), {}).items()}
        for gram in word_ngrams(question, n):
            for name, other in ngrams.get(gram, {}).items():
                found.setdefault(name, {"benchmark_problem_id": other, "match": f"{n}-gram", "ngram": gram})
        drops += [{"problem_id": problem_id, "question": question, "benchmark": name, **match}
                  for name, match in found.items()]
    return pl.DataFrame(drops, schema=DROP_SCHEMA)


def decontaminate(train: pl.DataFrame, benchmarks: dict[str, pl.DataFrame], n: int
                  ) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """The training problems that overlap none of ``benchmarks``, every drop, and the counts."""
    drops = find_overlaps(train, benchmarks, n)
    dropped = set(drops["problem_id"].to_list())
    clean = train.filter(~pl.col("id").is_in(list(dropped)))
    metrics = {"ngram": n, "candidates": train.height, "dropped": len(dropped), "kept": clean.height,
               "by_benchmark": {name: int((drops["benchmark"] == name).sum()) for name in benchmarks},
               "exact": int(drops.filter(pl.col("match") == "exact")["problem_id"].n_unique())}
    return clean, drops, metrics
