"""DVC stages `corpus@<name>`: one corpus of params `corpora`, built by its kind over the shared problem set.

Usage: ``python -m stages.corpus <name>``.
"""

from __future__ import annotations

import sys

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.corpora.build import BudgetExceeded, describe
from qup.corpora.kinds import build
from qup.records import write_json, write_parquet


def main(params: Params, name: str) -> None:
    if name not in params.corpora:
        raise SystemExit(f"unknown corpus {name!r}; params corpora: {', '.join(params.corpora)}")
    samples = pl.read_parquet(paths.NATIVE_SAMPLES)
    problems = pl.read_parquet(paths.TRAIN_PROBLEMS)
    try:
        corpus, attempts, metrics = build(params, name, samples, problems)
    except BudgetExceeded as err:
        raise SystemExit(f"corpus@{name}: {err}.\nTo go on, raise the budget and rerun; cached shards are reused, "
                         f"not paid for again: dvc exp run -S oracle.max_cost=<USD> (or set oracle.max_cost "
                         f"in params.yaml, then dvc repro corpus@{name})") from None
    write_parquet(attempts, paths.attempts(name))
    write_parquet(corpus, paths.corpus(name))
    write_json(metrics, paths.corpus_metrics(name))
    calls = "" if "calls" not in metrics else (
        f"; {metrics['calls']} Oracle calls, {metrics['prompt_tokens']:,} prompt and "
        f"{metrics['completion_tokens']:,} completion tokens, ${metrics['cost_usd']:.2f}")
    print(describe(metrics) + calls)


if __name__ == "__main__":
    main(load_params(), sys.argv[1] if len(sys.argv) > 1 else "")
