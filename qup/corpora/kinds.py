"""Corpus kinds built from the SLM's samples, the Oracle or the dataset (stage ``candidates@<name>``).

Every builder reads the SLM's graded samples and the train problems, and returns the corpus, every
attempt behind it with its drop reason (null when kept), and the corpus's metrics. A new kind is a
params class in ``qup/config/corpora.py`` and an entry in ``BUILDERS``; a kind drawn from other
corpora is an entry in ``qup.corpora.derived.DERIVERS`` instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import polars as pl

from qup import paths
from qup.config import CorpusSpec, NativeCorpus, OracleCorpus, Params
from qup.corpora.build import Budget, OracleCall, build_corpus, build_reference, corpus_metrics, source_traces
from qup.corpora.pool import Built
from qup.engines import Sampling, make_engine
from qup.models import resolve_oracle
from qup.native import pick_native_corpus
from qup.prompts import load_prompt


def shared_set(params: Params, samples: pl.DataFrame, problems: pl.DataFrame) -> pl.DataFrame:
    """The native corpus: one correct sample per solved problem (``native.pick``); its problems are the
    shared problem set every other corpus is built over."""
    return pick_native_corpus(samples, problems, rule=params.native.pick, seed=params.seed)


def build_native(params: Params, name: str, spec: NativeCorpus, samples: pl.DataFrame,
                 problems: pl.DataFrame) -> Built:
    """Rejection sampling: every sample is an attempt; the picked one per solved problem is kept."""
    corpus = shared_set(params, samples, problems)
    picked = pl.format("native:{}:{}", "problem_id", "sample").is_in(corpus["trace_id"].implode())
    attempts = samples.with_columns(
        pl.when(picked).then(None).when(pl.col("correct")).then(pl.lit("not_picked"))
        .when(pl.col("answer").is_null()).then(pl.lit("no_answer")).otherwise(pl.lit("wrong_answer"))
        .alias("drop_reason"))
    metrics = corpus_metrics(name, attempts, corpus, corpus.height)
    return corpus, attempts, {**metrics, "pick": params.native.pick}


def build_oracle(params: Params, name: str, spec: OracleCorpus, samples: pl.DataFrame,
                 problems: pl.DataFrame) -> Built:
    """The Oracle answers ``spec.prompt`` for each shared problem, from the question or the SLM's trace."""
    cfg = params.oracle
    native = shared_set(params, samples, problems)
    targets = (native.select("problem_id", "question", "gold") if spec.source is None
               else source_traces(samples, native, spec.source))
    model = resolve_oracle(params.models.oracle, params.engines.oracle.engine)
    sampling = Sampling(temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=params.seed)
    budget = Budget(price=params.costs.prices.get(model["id"]), limit=cfg.max_cost)
    if budget.limit is not None and budget.price is None:
        print(f"corpus@{name}: oracle.max_cost is set, but costs.prices has no price for {model['id']}: "
              "its requests cost nothing against it", file=sys.stderr)
    started = time.perf_counter()
    with make_engine(params.engines.oracle, model, progress=False) as engine:
        call = OracleCall(engine, model, sampling, paths.cache("oracle") / name, cfg.shard_size, budget,
                          max_error_share=params.engines.oracle.max_error_share)
        judge = load_prompt(cfg.judge_prompt) if spec.judge else None
        corpus, attempts, metrics = build_corpus(name, load_prompt(spec.prompt), call, targets, problems,
                                                 max_edit=spec.max_edit, judge_prompt=judge)
    metrics.update(source=spec.source, engine=engine.name, model=model["id"],
                   seconds=round(time.perf_counter() - started, 1))
    return corpus, attempts, metrics


def build_reference_corpus(params: Params, name: str, spec: CorpusSpec, samples: pl.DataFrame,
                           problems: pl.DataFrame) -> Built:
    """The dataset's own written solutions of the shared problems."""
    return build_reference(name, shared_set(params, samples, problems), problems)


BUILDERS: dict[str, Callable[..., Built]] = {
    "native": build_native,
    "oracle": build_oracle,
    "reference": build_reference_corpus,
}


def build(params: Params, name: str, samples: pl.DataFrame, problems: pl.DataFrame) -> Built:
    """Corpus ``name`` of params ``corpora``, built by its kind's builder."""
    spec = params.corpora[name]
    return BUILDERS[spec.kind](params, name, spec, samples, problems)
