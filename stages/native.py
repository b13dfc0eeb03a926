"""DVC stage `native`: the SLM samples k solutions per train problem (rejection sampling)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl

from qup.config import load_params
from qup.engines import Sampling, make_engine
from qup.native import native_metrics, pick_native_corpus, sample_problems
from qup.prompts import load_prompt
from qup.records import write_json, write_parquet

CACHE = Path(".qup-cache/native")


def main() -> None:
    params = load_params()
    cfg = params.native
    problems = pl.read_parquet("data/problems/train.parquet")
    manifest = json.loads(Path("data/models/manifest.json").read_text())
    slm = next(m for m in manifest["models"] if m["role"] == "slm")
    engine = make_engine(params.engines.slm, slm)
    sampling = Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                        seed=params.seed)
    started = time.perf_counter()
    try:
        samples = sample_problems(engine, problems, prompt=load_prompt(cfg.prompt), k=cfg.k, sampling=sampling,
                                  model=slm, cache_dir=CACHE, shard_size=cfg.shard_size)
    finally:
        engine.close()
    seconds = time.perf_counter() - started
    corpus = pick_native_corpus(samples, problems, rule=cfg.pick, seed=params.seed)
    write_parquet(samples, "data/samples/native.parquet")
    write_parquet(corpus, "data/corpora/native.parquet")
    metrics = {**native_metrics(samples, problems.height, cfg.k), "seconds": round(seconds, 1)}
    write_json(metrics, "metrics/native.json")
    print(f"native: pass@1 {metrics['pass_at_1']:.3f}, pass@{cfg.k} {metrics['pass_at_k']:.3f}, "
          f"{metrics['shared_problems']} of {metrics['problems']} problems in the shared set, "
          f"{metrics['no_answer']} outputs without an answer, {seconds:.0f}s")


if __name__ == "__main__":
    main()
