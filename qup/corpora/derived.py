"""Derived corpus kinds (select, mix, self_rewrite), built by stage ``corpus@<name>`` from other corpora.

Every corpus it draws from is read from its ``candidates@`` output, or, when it is itself derived, built here
first (its shards cached as its own stage caches them). A derived builder gets params, the corpus's name and
spec, and the ``Sources``; it returns the corpus, every attempt behind it with its drop reason, and metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import polars as pl

from qup import paths
from qup.config import Params
from qup.config.corpora import DERIVED_KINDS, MixCorpus, SelectCorpus, SelfRewriteCorpus, check_corpora, drawn_from
from qup.corpora.mix import mix_corpus
from qup.corpora.pool import Built, read_built
from qup.corpora.select import candidate_pool, native_candidates, score_pool, select_corpus
from qup.corpora.self_rewrite import TOY_SLM, rewrite, self_rewrite_corpus
from qup.prompts import load_prompt


class CannotDerive(ValueError):
    """A derived corpus that its params or its SLM cannot build; the message says why."""


class Sources:
    """The corpora of params ``corpora`` as built, each read or derived once."""

    def __init__(self, params: Params):
        self.params, self._built = params, {}

    def built(self, name: str) -> Built:
        if name not in self._built:
            spec = self.params.corpora[name]
            self._built[name] = (DERIVERS[spec.kind](self.params, name, spec, self) if spec.kind in DERIVED_KINDS
                                 else read_built(name))
        return self._built[name]

    def corpus(self, name: str) -> pl.DataFrame:
        return self.built(name)[0]

    def shared(self) -> list[str]:
        """The shared problem set: the native corpus's problems."""
        return sorted(self.corpus("native")["problem_id"])


def build_select(params: Params, name: str, spec: SelectCorpus, sources: Sources) -> Built:
    """Score every candidate with the reward model and the SLM, keep the best of each problem."""
    from qup.manifest import slm_entry
    from qup.scoring.corpus import Lazy, reward_models
    from qup.scoring.nll import nll_backend

    cfg = params.scoring
    label = spec.reward_model or reward_labels(params)[0]
    column, opener, revision = next(rm for rm in reward_models(cfg.reward_models, cfg.device)
                                    if rm[0] == f"reward_{label}")
    problems = pl.read_parquet(paths.TRAIN_PROBLEMS)
    pool = {source: (native_candidates(pl.read_parquet(paths.NATIVE_SAMPLES), problems, source)
                     if params.corpora[source].kind == "native" else sources.corpus(source))
            for source in drawn_from(name, spec, params.corpora)}
    shared = sources.shared()
    candidates = candidate_pool(pool, shared)
    slm, model, started = slm_entry(), Lazy(opener), time.perf_counter()
    try:
        with nll_backend(params, slm) as (nll_fn, _):
            scored = score_pool(candidates, prompt=load_prompt(params.native.prompt), nll_fn=nll_fn,
                                slm_key=slm["revision"], reward_model=model, reward=column, rm_key=revision,
                                cache_dir=paths.cache("select"), shard_size=cfg.shard_size)
    finally:
        model.close()
    corpus, attempts, metrics = select_corpus(name, scored, shared, lam=spec.lam, reward_label=label)
    return corpus, attempts, {**metrics, "seconds": round(time.perf_counter() - started, 1)}


def build_mix(params: Params, name: str, spec: MixCorpus, sources: Sources) -> Built:
    first, second = spec.of
    return mix_corpus(name, (first, sources.corpus(first)), (second, sources.corpus(second)), share=spec.share,
                      seed=params.seed, shared=sources.shared())


def build_self_rewrite(params: Params, name: str, spec: SelfRewriteCorpus, sources: Sources) -> Built:
    """The SLM rewrites corpus ``from``; stops before loading anything when the SLM is the toy one."""
    if params.models.slm.name == "toy":
        raise CannotDerive(TOY_SLM)
    from qup.engines import Sampling, make_engine
    from qup.manifest import slm_entry

    source = sources.corpus(spec.source)
    slm, prompt, started = slm_entry(), load_prompt(spec.prompt), time.perf_counter()
    sampling = Sampling(temperature=spec.temperature, max_new_tokens=spec.max_new_tokens or
                        params.oracle.max_new_tokens, seed=params.seed)
    with make_engine(params.engines.slm, slm) as engine:
        rewrites = rewrite(engine, prompt, source, sampling=sampling, model=slm,
                           cache_dir=paths.cache("self_rewrite") / name, shard_size=params.native.shard_size)
        engine_name = engine.name
    corpus, attempts, metrics = self_rewrite_corpus(
        name, spec.source, source, rewrites, shared=sources.shared(), model=slm, engine=engine_name, prompt=prompt,
        max_error_share=params.engines.slm.max_error_share)
    return corpus, attempts, {**metrics, "seconds": round(time.perf_counter() - started, 1)}


DERIVERS: dict[str, Callable[..., Built]] = {
    "select": build_select,
    "mix": build_mix,
    "self_rewrite": build_self_rewrite,
}


def derive(params: Params, name: str) -> Built:
    """Derived corpus ``name`` of params ``corpora``, its params checked against the reward models first."""
    try:
        check_corpora(params.corpora, reward_labels(params))
    except ValueError as err:
        raise CannotDerive(str(err)) from None
    return Sources(params).built(name)


def reward_labels(params: Params) -> list[str]:
    return [ref.column.removeprefix("reward_") for ref in params.scoring.reward_models]
