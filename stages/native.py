"""DVC stage `native`: the SLM samples k solutions per train problem, each graded (rejection sampling);
stage `corpus@native` picks the native corpus from them."""

from __future__ import annotations

import time

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.engines import Sampling, check_failures, make_engine
from qup.manifest import slm_entry
from qup.native import native_metrics, native_usage, sample_problems
from qup.prompts import load_prompt
from qup.records import write_json, write_parquet


def main(params: Params) -> None:
    cfg = params.native
    problems = pl.read_parquet(paths.TRAIN_PROBLEMS)
    slm = slm_entry()
    sampling = Sampling(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                        seed=params.seed)
    started = time.perf_counter()
    with make_engine(params.engines.slm, slm) as engine:
        samples = sample_problems(engine, problems, prompt=load_prompt(cfg.prompt), k=cfg.k, sampling=sampling,
                                  model=slm, cache_dir=paths.cache("native"), shard_size=cfg.shard_size)
    seconds = time.perf_counter() - started
    check_failures(zip(samples["finish_reason"], samples["response"]), samples.height,
                   max_share=params.engines.slm.max_error_share, what="native")
    write_parquet(samples, paths.NATIVE_SAMPLES)
    usage = native_usage(samples).metrics(params.costs.prices.get(slm["id"]))
    metrics = {**native_metrics(samples, problems.height, cfg.k), **usage, "engine": engine.name, "model": slm["id"],
               "seconds": round(seconds, 1)}
    write_json(metrics, paths.NATIVE_METRICS)
    print(f"native: pass@1 {metrics['pass_at_1']:.3f}, pass@{cfg.k} {metrics['pass_at_k']:.3f}, "
          f"{metrics['shared_problems']} of {metrics['problems']} problems in the shared set, "
          f"{metrics['no_answer']} outputs without an answer, {metrics['prompt_tokens']:,} prompt and "
          f"{metrics['completion_tokens']:,} completion tokens, {seconds:.0f}s")


if __name__ == "__main__":
    main(load_params())
