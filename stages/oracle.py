"""DVC stages `oracle_synth`, `oracle_refine` and `style_aligned`: the Oracle's corpora over the shared problem set.

Usage: ``python -m stages.oracle oracle_synth|oracle_refined|style_aligned``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import polars as pl

from qup.config import load_params
from qup.corpora.build import OracleCall, build_corpus, describe, source_traces
from qup.engines import Sampling, make_engine
from qup.models import resolve_oracle
from qup.prompts import load_prompt
from qup.records import write_json, write_parquet

CACHE = Path(".qup-cache/oracle")
TASKS = {"oracle_synth": "synthesize", "oracle_refined": "refine", "style_aligned": "style_aligned"}


def main(name: str) -> None:
    if name not in TASKS:
        raise SystemExit(f"unknown Oracle corpus {name!r}; choose one of {', '.join(TASKS)}")
    params = load_params()
    cfg = params.oracle
    problems = pl.read_parquet("data/problems/train.parquet")
    native = pl.read_parquet("data/corpora/native.parquet")
    if name == "oracle_synth":
        targets = native.select("problem_id", "question", "gold")
    else:
        targets = source_traces(pl.read_parquet("data/samples/native.parquet"), native, cfg.source)
    model = resolve_oracle(params.models.oracle, params.engines.oracle.engine)
    engine = make_engine(params.engines.oracle, model, progress=False)
    sampling = Sampling(temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=params.seed)
    call = OracleCall(engine, model, sampling, CACHE / name, cfg.shard_size)
    max_edit = {"style_aligned": cfg.style_aligned_max_edit, "oracle_refined": cfg.refined_max_edit}.get(name)
    started = time.perf_counter()
    try:
        corpus, attempts, metrics = build_corpus(
            name, load_prompt(getattr(cfg.prompts, TASKS[name])), call, targets, problems, max_edit=max_edit,
            judge_prompt=load_prompt(cfg.prompts.judge) if cfg.judge else None)
    finally:
        engine.close()
    metrics.update(source=cfg.source if name != "oracle_synth" else None, engine=engine.name, model=model["id"],
                   seconds=round(time.perf_counter() - started, 1))
    write_parquet(attempts, f"data/attempts/{name}.parquet")
    write_parquet(corpus, f"data/corpora/{name}.parquet")
    write_json(metrics, f"metrics/corpora/{name}.json")
    print(describe(metrics))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
