"""DVC stages `score@<corpus>`: reward models, adaptation cost and style distance of one corpus.

Usage: ``python -m stages.score <corpus>``.
"""

from __future__ import annotations

import sys
import time

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.manifest import slm_entry
from qup.prompts import load_prompt
from qup.records import write_json, write_parquet
from qup.scoring.corpus import reward_models, score_corpus
from qup.scoring.nll import nll_backend


def main(params: Params, name: str) -> None:
    if name not in params.corpora:
        raise SystemExit(f"unknown corpus {name!r}; params corpora: {', '.join(params.corpora)}")
    cfg = params.scoring
    corpus = pl.read_parquet(paths.corpus(name))
    slm = slm_entry()
    native_samples = pl.read_parquet(paths.NATIVE_SAMPLES)["response"].to_list()
    scorers = reward_models(cfg.reward_models, cfg.device)  # as the reward_model stage made or pinned them
    started = time.perf_counter()
    with nll_backend(params, slm) as (nll_fn, tokenizer):
        scores, metrics = score_corpus(
            corpus, prompt=load_prompt(params.native.prompt), nll_fn=nll_fn, slm_tokenizer=tokenizer,
            slm_key=slm["revision"], reward_models=scorers, native_samples=native_samples,
            top_tokens=cfg.top_tokens, resamples=cfg.bootstrap, seed=params.seed, cache_dir=paths.cache("score") / name,
            shard_size=cfg.shard_size)
    metrics.update(corpus=name, seconds=round(time.perf_counter() - started, 1))
    write_parquet(scores, paths.scores(name))
    write_json(metrics, paths.quality_metrics(name))
    rewards = ", ".join(f"{label} {v['mean']:.3f}" for label, v in metrics["reward"].items() if v["mean"] is not None)
    ppl = metrics["perplexity"]["mean"]
    print(f"score@{name}: {metrics['traces']} traces, perplexity {ppl if ppl is None else round(ppl, 3)}, "
          f"reward {rewards or 'none'}")


if __name__ == "__main__":
    main(load_params(), sys.argv[1] if len(sys.argv) > 1 else "")
