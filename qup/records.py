"""Table schemas and atomic writers: nothing is ever left half-written."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

PROBLEM_SCHEMA = {
    "id": pl.String,
    "source": pl.String,
    "question": pl.String,
    "answer": pl.String,
    "solution": pl.String,
    "level": pl.String,
    "type": pl.String,
    "meta": pl.String,
}

REJECTED_SCHEMA = {
    "file": pl.String,
    "row": pl.Int64,
    "id": pl.String,
    "field": pl.String,
    "kind": pl.String,
    "reason": pl.String,
}


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_parquet(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` atomically."""
    return atomic_write(path, frame.write_parquet)


def write_json(data: Any, path: str | Path) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def corpus_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in the corpus schema: missing columns become null, extra ones are dropped."""
    missing = [pl.lit(None, dtype=dtype).alias(name)
               for name, dtype in CORPUS_SCHEMA.items() if name not in frame.columns]
    return frame.with_columns(missing).select(list(CORPUS_SCHEMA)).cast(CORPUS_SCHEMA)


def problems_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Problem rows in the canonical schema (missing optional fields become null)."""
    return pl.DataFrame(
        [{key: row.get(key) for key in PROBLEM_SCHEMA} for row in rows], schema=PROBLEM_SCHEMA
    )


def rejected_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rejected rows in the canonical schema."""
    return pl.DataFrame(
        [{key: row.get(key) for key in REJECTED_SCHEMA} for row in rows], schema=REJECTED_SCHEMA
    )

SAMPLE_SCHEMA = {
    "problem_id": pl.String,
    "sample": pl.Int64,
    "response": pl.String,
    "answer": pl.String,
    "gold": pl.String,
    "correct": pl.Boolean,
    "n_tokens": pl.Int64,
    "finish_reason": pl.String,
    "engine": pl.String,
    "model": pl.String,
    "model_revision": pl.String,
    "prompt": pl.String,
}

CORPUS_SCHEMA = {
    "corpus": pl.String,
    "problem_id": pl.String,
    "trace_id": pl.String,
    "parent_id": pl.String,
    "question": pl.String,
    "response": pl.String,
    "answer": pl.String,
    "gold": pl.String,
    "engine": pl.String,
    "model": pl.String,
    "prompt": pl.String,
    # refinements only: the SLM trace they start from, and how far they moved from it
    "source_response": pl.String,
    "edit_distance": pl.Float64,  # normalised Levenshtein distance to source_response
    "verbatim_prefix": pl.Float64,  # share of source_response kept verbatim before the first edit
    "judge_score": pl.Float64,  # semantic preservation, 1-5, from the judge prompt; null when it gave none
    "same_operations": pl.Boolean,  # toy world: the exact check that the source's operations are kept
}
