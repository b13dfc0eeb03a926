"""Read local JSONL, Parquet and CSV files into raw rows for validation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from qup.problems.validate import RowError

FILE_TYPES = ("jsonl", "csv", "parquet")


def file_type(path: Path, declared: str | None = None) -> str:
    """The file's type: ``declared``, else guessed from its extension."""
    if declared:
        if declared not in FILE_TYPES:
            raise ValueError(f"unknown file type {declared!r}; choose one of {', '.join(FILE_TYPES)}")
        return declared
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "json", "ndjson"):
        return "jsonl"
    if suffix in FILE_TYPES:
        return suffix
    raise ValueError(f"{path}: cannot tell the file type from its extension; give it explicitly")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                yield number, RowError(f"line is not valid JSON: {err.msg} at column {err.colno}")
                continue
            if not isinstance(record, dict):
                yield number, RowError(f"line is a JSON {type(record).__name__}, not an object")
                continue
            yield number, record


def _table_rows(frame: pl.DataFrame) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from enumerate(frame.iter_rows(named=True), start=1)


def read_rows(path: str | Path, kind: str | None = None) -> list[tuple[int, dict[str, Any] | RowError]]:
    """Every data row of ``path`` with its 1-based number (the line, for JSONL)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    kind = file_type(path, kind)
    if kind == "jsonl":
        return list(_jsonl_rows(path))
    try:
        if kind == "csv":
            frame = pl.read_csv(path, infer_schema=False)
        else:
            frame = pl.read_parquet(path)
    except Exception as err:  # polars raises several error types for unreadable files
        raise ValueError(f"{path}: cannot read it as {kind}: {err}") from err
    return list(_table_rows(frame))
