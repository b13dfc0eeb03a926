"""Resumable sharded jobs: each finished shard is kept, so a crash loses only the shard in flight.

Shards live in a cache folder keyed by everything that shapes their content (the caller's
``key`` plus the shard's own items), outside DVC's outputs, which DVC removes before a rerun.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from qup.progress import progress, shard_progress
from qup.records import write_parquet


def shard_key(key: Any, items: Sequence[Any]) -> str:
    blob = json.dumps([key, list(items)], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def run_sharded(items: Sequence[Any], work: Callable[[Sequence[Any]], pl.DataFrame], *, key: Any,
                cache_dir: Path, shard_size: int, desc: str, unit: str = "item", units_per_item: int = 1,
                guard: Callable[[Sequence[Any], list[pl.DataFrame]], None] | None = None) -> pl.DataFrame:
    """``work`` on each shard of ``items`` not already in ``cache_dir``; all shards concatenated in order.

    The bar counts ``units_per_item`` per item and moves as the engine finishes requests inside a shard
    (``qup.progress.advance``), then to the shard's end when it is written.

    ``guard``, where given, sees each shard about to run and every finished shard's rows (cached ones
    first) and may raise to stop the job; every shard finished until then stays cached.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    shards = [items[i:i + shard_size] for i in range(0, len(items), shard_size)]
    paths = [cache_dir / f"shard-{shard_key(key, shard)}.parquet" for shard in shards]
    finished = [pl.read_parquet(p) for p in paths if p.exists()]
    done = sum(len(s) for s, p in zip(shards, paths) if p.exists())
    with progress(total=len(items) * units_per_item, initial=done * units_per_item, desc=desc, unit=unit) as bar:
        if done:
            bar.write(f"{desc}: resuming, {done} of {len(items)} already done")
        for shard, path in zip(shards, paths):
            if path.exists():
                continue
            if guard:
                guard(shard, finished)
            with shard_progress(bar, len(shard) * units_per_item):
                frame = work(shard)
                write_parquet(frame, path)
            finished.append(frame)
    frames = [pl.read_parquet(p) for p in paths]
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame()
