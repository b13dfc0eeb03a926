"""DVC stages `evaluate_base` (the untouched SLM) and `evaluate@<corpus>` (its checkpoint of every
training objective and seed, in one process), on the test split and every benchmark in params `evaluate.benchmarks`.

Usage: ``python -m stages.evaluate base|<corpus>``.
"""

from __future__ import annotations

import sys
import time

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.engines import Usage, check_failures, make_engine, shared_server
from qup.evaluation import TEST_SPLIT as TEST
from qup.evaluation import (
    accuracy_metrics,
    as_itself,
    evaluate_model,
    failures,
    finish_metrics,
    of_objective,
    results_table,
)
from qup.manifest import checkpoint_model, slm_entry
from qup.prompts import load_prompt
from qup.records import write_json, write_parquet

BASE = "base"


def main(params: Params, name: str) -> None:
    if name != BASE and name not in params.corpora:
        raise SystemExit(f"unknown evaluation {name!r}; choose {BASE} or one of {', '.join(params.corpora)}")
    cfg = params.evaluate
    test = pl.read_parquet(paths.TEST_PROBLEMS)
    if cfg.max_problems is not None:
        test = test.head(cfg.max_problems)
    sets = {TEST: test, **{b.name: pl.read_parquet(paths.benchmark(b.name)) for b in cfg.benchmarks}}
    slm = slm_entry()
    # the untouched SLM once; a corpus's checkpoint once per training objective and seed, as itself
    objectives = params.train.run_objectives
    runs = [(None, None, slm, None, slm["revision"])] if name == BASE else [
        (objective, seed, *as_itself(*checkpoint_model(slm, paths.checkpoint(name, seed, objective))))
        for objective in objectives for seed in params.train.seeds]
    # every checkpoint's LoRA adapter on one server (loaded and unloaded by name) where the engine is a server's
    adapters = [adapter for *_, adapter, _ in runs]
    shared = adapters if all(adapters) else []
    started = time.perf_counter()
    results = []
    with shared_server(params.engines.slm, slm, shared) as engine_params:
        for objective, seed, model, adapter, revision in runs:
            with make_engine(engine_params, model, adapter=adapter) as engine:
                for benchmark, problems in sets.items():
                    evaluated = evaluate_model(
                        engine, problems, prompt=load_prompt(params.native.prompt), k=cfg.k,
                        temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=params.seed,
                        cache_dir=paths.cache("evaluate") / name / benchmark, shard_size=cfg.shard_size,
                        key={"checkpoint": revision}, training_seed=seed)
                    results.append(evaluated.with_columns(pl.lit(benchmark).alias("benchmark"),
                                                          pl.lit(objective, pl.String).alias("objective")))
    results = pl.concat(results)
    check_failures(failures(results), results.height * (cfg.k + 1), max_share=params.engines.slm.max_error_share,
                   what=f"evaluate@{name}")

    def figures(rows: pl.DataFrame) -> dict:
        """One model's (one objective's checkpoints') measures on the test split and on each benchmark."""
        return {**accuracy_metrics(rows.filter(pl.col("benchmark") == TEST), cfg.k, seed=params.seed),
                "benchmarks": {b: accuracy_metrics(rows.filter(pl.col("benchmark") == b), cfg.k, seed=params.seed)
                               for b in sets if b != TEST}}

    per_objective = {} if name == BASE else {o: figures(of_objective(results, o)) for o in objectives}
    # the top-level figures are the primary objective's (the base SLM's for evaluate_base), as before objectives
    metrics = {"checkpoint": name, **(per_objective[objectives[0]] if per_objective else figures(results)),
               **Usage.from_rows(results).metrics(params.costs.prices.get(slm["id"])),
               "finish_reasons": finish_metrics(results),
               "temperature": cfg.temperature, "seconds": round(time.perf_counter() - started, 1)}
    if per_objective:
        metrics.update(objective=objectives[0], per_objective=per_objective)
    write_parquet(results_table(results), paths.eval_results(name))
    write_json(metrics, paths.eval_metrics(name))
    others = "".join(f", {b} Avg@{cfg.k} {m['avg_at_k']['mean']:.3f}" for b, m in metrics["benchmarks"].items())
    print(f"evaluate@{name}: greedy {metrics['greedy_accuracy']['mean']:.3f}, "
          f"Avg@{cfg.k} {metrics['avg_at_k']['mean']:.3f} ± {metrics['avg_at_k']['se']:.3f}{others}, "
          f"{metrics['seconds']}s")
    for objective in objectives[1:] if per_objective else []:
        m = per_objective[objective]
        print(f"evaluate@{name} {objective}: greedy {m['greedy_accuracy']['mean']:.3f}, "
              f"Avg@{cfg.k} {m['avg_at_k']['mean']:.3f} ± {m['avg_at_k']['se']:.3f}")

if __name__ == "__main__":
    main(load_params(), sys.argv[1] if len(sys.argv) > 1 else "")
