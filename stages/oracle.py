"""DVC stages `oracle_synth`, `oracle_refined` and `style_aligned`: the Oracle's corpora over the shared problem set.

Usage: ``python -m stages.oracle oracle_synth|oracle_refined|style_aligned``.
"""

from __future__ import annotations

import sys
import time

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.corpora.build import Budget, BudgetExceeded, OracleCall, build_corpus, describe, source_traces
from qup.engines import Sampling, make_engine
from qup.models import resolve_oracle
from qup.prompts import load_prompt
from qup.records import write_json, write_parquet

TASKS = {"oracle_synth": "synthesize", "oracle_refined": "refine", "style_aligned": "style_aligned"}


def main(params: Params, name: str) -> None:
    if name not in TASKS:
        raise SystemExit(f"unknown Oracle corpus {name!r}; choose one of {', '.join(TASKS)}")
    cfg = params.oracle
    problems = pl.read_parquet(paths.TRAIN_PROBLEMS)
    native = pl.read_parquet(paths.corpus("native"))
    if name == "oracle_synth":
        targets = native.select("problem_id", "question", "gold")
    else:
        targets = source_traces(pl.read_parquet(paths.NATIVE_SAMPLES), native, cfg.source)
    model = resolve_oracle(params.models.oracle, params.engines.oracle.engine)
    sampling = Sampling(temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=params.seed)
    max_edit = {"style_aligned": cfg.style_aligned_max_edit, "oracle_refined": cfg.refined_max_edit}.get(name)
    budget = Budget(price=params.costs.prices.get(model["id"]), limit=cfg.max_cost)
    if budget.limit is not None and budget.price is None:
        print(f"{name}: oracle.max_cost is set, but costs.prices has no price for {model['id']}: "
              "its requests cost nothing against it", file=sys.stderr)
    started = time.perf_counter()
    with make_engine(params.engines.oracle, model, progress=False) as engine:
        call = OracleCall(engine, model, sampling, paths.cache("oracle") / name, cfg.shard_size, budget)
        try:
            corpus, attempts, metrics = build_corpus(
                name, load_prompt(getattr(cfg.prompts, TASKS[name])), call, targets, problems, max_edit=max_edit,
                judge_prompt=load_prompt(cfg.prompts.judge) if cfg.judge else None)
        except BudgetExceeded as err:
            raise SystemExit(f"{name}: {err}.\nTo go on, raise the budget and rerun; cached shards are reused, "
                             f"not paid for again: dvc exp run -S oracle.max_cost=<USD> (or set oracle.max_cost "
                             f"in params.yaml, then dvc repro {name})") from None
    metrics.update(source=cfg.source if name != "oracle_synth" else None, engine=engine.name, model=model["id"],
                   seconds=round(time.perf_counter() - started, 1))
    write_parquet(attempts, paths.attempts(name))
    write_parquet(corpus, paths.corpus(name))
    write_json(metrics, paths.corpus_metrics(name))
    print(f"{describe(metrics)}; {metrics['calls']} Oracle calls, {metrics['prompt_tokens']:,} prompt and "
          f"{metrics['completion_tokens']:,} completion tokens, ${metrics['cost_usd']:.2f}")


if __name__ == "__main__":
    main(load_params(), sys.argv[1] if len(sys.argv) > 1 else "")
