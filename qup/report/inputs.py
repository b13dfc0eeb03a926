"""What the report reads: each stage's metrics, and the evaluations as paired [seeds, problems] matrices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from qup import paths
from qup.evaluation import MEASURES, TEST_SPLIT, of_objective, per_problem_scores, score_matrix


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


def evaluated_objectives(root: Path, corpora: list[str]) -> list[str]:
    """The training objectives every corpus's checkpoints were evaluated under, the primary first (the order
    ``evaluate@`` wrote them in); an error when two corpora differ."""
    found: list[str] | None = None
    for name in corpora:
        path = root / paths.eval_results(name)
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run the stage that writes it (dvc repro)")
        if "objective" not in pl.read_parquet_schema(path):
            raise ValueError(f"{path}: no objective column (evaluated before train.objectives existed); rerun "
                             f"evaluate@{name} (dvc repro)")
        column = pl.read_parquet(path, columns=["objective"])["objective"]
        objectives = list(dict.fromkeys(column.drop_nulls().to_list()))
        if found is not None and objectives != found:
            raise ValueError(f"{path}: objectives {objectives}, but other corpora have {found}; rerun the evaluate "
                             "stages (dvc repro)")
        found = objectives
    return found or []


def utility_matrices(root: Path, names: list[str], k: int, benchmark: str = TEST_SPLIT, objective: str | None = None
                     ) -> tuple[list[str], list[int], dict[str, dict]]:
    """Per evaluated model, each measure as a [seeds, problems] matrix over the same problems and seeds: a corpus's
    checkpoints of ``objective`` (None: every row), paired over seeds and problems.

    The base SLM has one row (it was not trained); it is repeated for every seed so that it pairs.
    """
    def results(name: str) -> pl.DataFrame:
        frame = _read_results(root / paths.eval_results(name), benchmark)
        return frame if name == "base" or objective is None else of_objective(frame, objective)

    scores = {name: per_problem_scores(results(name), k) for name in names}
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
