"""What the report reads: each stage's metrics, and the evaluations as paired [seeds, problems] matrices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from qup import paths
from qup.evaluation import MEASURES, TEST_SPLIT, per_problem_scores, score_matrix


def read_json(path: Path) -> dict:
    """A stage's metrics, or an error naming the missing file."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it (dvc repro)")
    return json.loads(path.read_text())


def _read_results(path: Path, benchmark: str = TEST_SPLIT) -> pl.DataFrame:
    """One evaluation's results on ``benchmark`` (results written before benchmarks existed are the test split's)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it (dvc repro)")
    results = pl.read_parquet(path)
    if "benchmark" not in results.columns:
        return results if benchmark == TEST_SPLIT else results.clear()
    return results.filter(pl.col("benchmark") == benchmark)


def benchmark_names(root: Path) -> list[str]:
    """The benchmarks the base SLM was evaluated on, the test split first."""
    results = pl.read_parquet(root / paths.eval_results("base"))
    if "benchmark" not in results.columns:
        return [TEST_SPLIT]
    names = list(dict.fromkeys(results["benchmark"].to_list()))
    return [TEST_SPLIT, *(n for n in names if n != TEST_SPLIT)]


def utility_matrices(root: Path, names: list[str], k: int, benchmark: str = TEST_SPLIT
                     ) -> tuple[list[str], list[int], dict[str, dict]]:
    """Per evaluated model, each measure as a [seeds, problems] matrix over the same problems and seeds.

    The base SLM has one row (it was not trained); it is repeated for every seed so that it pairs.
    """
    scores = {name: per_problem_scores(_read_results(root / paths.eval_results(name), benchmark), k)
              for name in names}
    problem_ids = list(dict.fromkeys(scores["base"]["problem_id"].to_list()))
    matrices: dict[str, dict] = {}
    seeds: list[int] = []
    for name, frame in scores.items():
        matrices[name] = {}
        for measure in MEASURES:
            row_seeds, matrix = score_matrix(frame, measure, problem_ids)
            matrices[name][measure] = matrix
            if name != "base":
                if seeds and row_seeds != seeds:
                    raise ValueError(f"{paths.eval_results(name)}: seeds {row_seeds}, but other corpora have {seeds}")
                seeds = row_seeds
    for measure in MEASURES:
        matrices["base"][measure] = np.repeat(matrices["base"][measure][:1], max(1, len(seeds)), axis=0)
    return problem_ids, seeds, matrices
