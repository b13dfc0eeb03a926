"""DVC stages `evaluate@base` (the untouched SLM) and `evaluate@<corpus>` (its checkpoint), on the test split.

Usage: ``python -m stages.evaluate base|<corpus>``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

from qup.config import load_params
from qup.engines import make_engine
from qup.evaluation import accuracy_metrics, evaluate_model
from qup.models import directory_digest
from qup.prompts import load_prompt
from qup.records import write_json, write_parquet

CACHE = Path(".qup-cache/evaluate")


def main(name: str) -> None:
    params = load_params()
    if name != "base" and name not in params.corpora:
        raise SystemExit(f"unknown evaluation {name!r}; choose base or one of {', '.join(params.corpora)}")
    cfg = params.evaluate
    test = pl.read_parquet("data/problems/test.parquet")
    if cfg.max_problems is not None:
        test = test.head(cfg.max_problems)
    manifest = json.loads(Path("data/models/manifest.json").read_text())
    model = next(m for m in manifest["models"] if m["role"] == "slm")
    adapter = None
    if name != "base":
        checkpoint = Path(f"data/checkpoints/{name}")
        if (checkpoint / "adapter_config.json").exists():
            adapter = str(checkpoint)
        else:
            model = {**model, "path": str(checkpoint)}
        revision = directory_digest(checkpoint)
    else:
        revision = model["revision"]
    engine = make_engine(params.engines.slm, model, adapter=adapter)
    started = time.perf_counter()
    try:
        results = evaluate_model(engine, test, prompt=load_prompt(params.native.prompt), k=cfg.k,
                                 temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=params.seed,
                                 cache_dir=CACHE / name, shard_size=cfg.shard_size, key={"checkpoint": revision})
    finally:
        engine.close()
    metrics = {"checkpoint": name, **accuracy_metrics(results, cfg.k), "temperature": cfg.temperature,
               "seconds": round(time.perf_counter() - started, 1)}
    write_parquet(results, f"data/eval/{name}.parquet")
    write_json(metrics, f"metrics/eval/{name}.json")
    print(f"evaluate@{name}: greedy {metrics['greedy_accuracy']:.3f}, Avg@{cfg.k} {metrics['avg_at_k']:.3f}, "
          f"{metrics['seconds']}s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
