"""Score one corpus: every reward model, the SLM's adaptation cost, and style distance to its own samples."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import polars as pl

from qup.chat import Conversation
from qup.config import RewardModelRef
from qup.prompts import Prompt
from qup.scoring.kinds import kind_of
from qup.scoring.nll import NLLFunction, ResponseNLL, content_mask, split_perplexities, top_loss_tokens
from qup.scoring.reward import HFOutcomeRewardModel, HFProcessRewardModel, RewardModel, SGLangOutcomeRewardModel
from qup.scoring.style import style_distance
from qup.shards import run_sharded
from qup.stats import bootstrap_mean

QUARTERS = ("ppl_q1", "ppl_q2", "ppl_q3", "ppl_q4")
CONTENT_SPLIT = ("ppl_content", "ppl_template")


def reward_models(refs: list[RewardModelRef], device: str | None = None,
                  ) -> list[tuple[str, Callable[[], RewardModel], str]]:
    """(column, opener, revision) for every reward model in params, each opened only when needed, the hf ones
    on ``device`` (``scoring.device``)."""
    out = []
    for ref in refs:
        path, revision = kind_of(ref).locate(ref)
        out.append((ref.column, lambda ref=ref, path=path: open_reward_model(ref, path, device=device), revision))
    return out


def open_reward_model(ref: RewardModelRef, path: str, *, device: str | None = None,
                      progress: bool = False) -> RewardModel:
    """The reward model ``ref`` describes, loaded from ``path`` (on ``device`` when in process)."""
    label = ref.column.removeprefix("reward_")
    if ref.kind == "prm":
        if ref.engine != "hf":
            raise ValueError(f"reward model {ref.name}: PRMs run on the hf engine only")
        return HFProcessRewardModel(path, label=label, step_split=ref.step_split, step_separator=ref.step_separator,
                                    aggregate=ref.aggregate, batch_size=ref.batch_size, device=device,
                                    dtype=ref.dtype, trust_remote_code=ref.trust_remote_code, progress=progress)
    if ref.engine == "sglang":
        remote_code = ["--trust-remote-code"] if ref.trust_remote_code else []
        return SGLangOutcomeRewardModel(path, label=label, url=ref.sglang_url, python=ref.sglang_python,
                                        extra_args=[*remote_code, *ref.sglang_args], batch_size=ref.batch_size,
                                        progress=progress)
    return HFOutcomeRewardModel(path, label=label, batch_size=ref.batch_size, device=device, dtype=ref.dtype,
                                progress=progress)


def conversations(corpus: pl.DataFrame, prompt: Prompt) -> list[tuple[Conversation, str]]:
    """(the SLM's prompt for the problem, the trace) for every row: the conversation the SLM trains on."""
    return [([{"role": "user", "content": prompt.render(question=q)}], r)
            for q, r in zip(corpus["question"], corpus["response"])]


def nll_columns(nll: NLLFunction, pairs, *, cache_dir: Path, key: dict, shard_size: int) -> pl.DataFrame:
    """Per-trace NLL, perplexity, Q1-Q4 perplexities and per-token NLL, resumable by shard."""

    def work(shard) -> pl.DataFrame:
        results = nll([pairs[i] for i in shard])
        rows = []
        for i, result in zip(shard, results):
            rows.append({"index": i, "n_tokens": len(result.nll), "nll_mean": result.mean,
                         "perplexity": result.perplexity, **dict(zip(QUARTERS, result.quarter_perplexities())),
                         "token_ids": result.token_ids, "token_nll": result.nll})
        return pl.DataFrame(rows, schema={"index": pl.Int64, "n_tokens": pl.Int64, "nll_mean": pl.Float64,
                                          "perplexity": pl.Float64, **{q: pl.Float64 for q in QUARTERS},
                                          "token_ids": pl.List(pl.Int64), "token_nll": pl.List(pl.Float64)})

    frame = run_sharded(list(range(len(pairs))), work, key=key, cache_dir=cache_dir, shard_size=shard_size,
                        desc="nll", unit="trace")
    return frame.sort("index").drop("index")


def content_columns(nll: pl.DataFrame, tokenizer) -> pl.DataFrame:
    """Per trace, perplexity over its content tokens (digits, operators) and over the rest (the
    wording): whether a corpus is costly for its maths or for its words."""
    split = [split_perplexities(values, content_mask(tokenizer, ids))
             for ids, values in zip(nll["token_ids"].to_list(), nll["token_nll"].to_list())]
    return pl.DataFrame({name: [s[i] for s in split] for i, name in enumerate(CONTENT_SPLIT)},
                        schema={name: pl.Float64 for name in CONTENT_SPLIT})


def reward_column(column: str, model: RewardModel, pairs, *, cache_dir: Path, key: dict,
                  shard_size: int) -> list[float | None]:
    def work(shard) -> pl.DataFrame:
        return pl.DataFrame({"index": list(shard), "score": model.score([pairs[i] for i in shard])},
                            schema={"index": pl.Int64, "score": pl.Float64})

    frame = run_sharded(list(range(len(pairs))), work, key=key, cache_dir=cache_dir, shard_size=shard_size,
                        desc=column, unit="trace")
    return frame.sort("index")["score"].to_list() if frame.height else []


def corpus_summary(scores: pl.DataFrame, *, reward_columns: list[str], native_samples: list[str],
                   top_tokens: list[dict], resamples: int, seed: int) -> dict:
    """Per-corpus metrics: mean and 95% bootstrap interval of each measure, style distance, top-loss tokens."""
    def interval(column: str) -> dict:
        return bootstrap_mean(scores[column].to_list(), seed=seed, resamples=resamples)

    total_nll = sum(sum(row) for row in scores["token_nll"].to_list())
    total_tokens = int(scores["n_tokens"].sum() or 0)
    metrics = {
        "traces": scores.height,
        "reward": {column.removeprefix("reward_"): interval(column) for column in reward_columns},
        "perplexity": interval("perplexity"),
        "corpus_perplexity": math.exp(total_nll / total_tokens) if total_tokens else None,
        "nll_per_token": interval("nll_mean"),
        **{q: interval(q) for q in QUARTERS},
        **{part: interval(part) for part in CONTENT_SPLIT},
        "style": style_distance(scores["response"].to_list(), native_samples),
        "top_loss_tokens": top_tokens,
        "mean_tokens": float(scores["n_tokens"].mean() or 0.0),
    }
    if scores["edit_distance"].drop_nulls().len():
        metrics["edit_distance"] = interval("edit_distance")
    return metrics


def score_corpus(corpus: pl.DataFrame, *, prompt: Prompt, nll_fn: NLLFunction, slm_tokenizer, slm_key: str,
                 reward_models: list[tuple[str, Callable[[], RewardModel], str]], native_samples: list[str],
                 top_tokens: int, resamples: int, seed: int, cache_dir: Path,
                 shard_size: int) -> tuple[pl.DataFrame, dict]:
    """Per-trace scores and per-corpus metrics. ``nll_fn`` gives the SLM's response NLLs;
    ``reward_models`` holds (column, opener, revision) triples, each model opened only when some
    shard needs it and closed after."""
    pairs = conversations(corpus, prompt)
    nll = nll_columns(nll_fn, pairs, cache_dir=cache_dir / "nll", shard_size=shard_size,
                      key={"slm": slm_key, "prompt": prompt.id, "texts": corpus["trace_id"].to_list()})
    scores = pl.concat([corpus.select("corpus", "problem_id", "trace_id", "parent_id", "response", "edit_distance"),
                        nll, content_columns(nll, slm_tokenizer)], how="horizontal")
    for column, opener, revision in reward_models:
        model = Lazy(opener)
        try:
            values = reward_column(column, model, pairs, cache_dir=cache_dir / column, shard_size=shard_size,
                                   key={"rm": revision, "prompt": prompt.id, "texts": corpus["trace_id"].to_list()})
        finally:
            model.close()
        scores = scores.with_columns(pl.Series(column, values, dtype=pl.Float64))
    tokens = top_loss_tokens_from_frame(scores, slm_tokenizer, top_tokens)
    metrics = corpus_summary(scores, reward_columns=[c for c, _, _ in reward_models], native_samples=native_samples,
                             top_tokens=tokens, resamples=resamples, seed=seed)
    return scores, metrics


def top_loss_tokens_from_frame(scores: pl.DataFrame, tokenizer, n: int) -> list[dict]:
    results = [ResponseNLL(ids, values) for ids, values in zip(scores["token_ids"].to_list(),
                                                              scores["token_nll"].to_list())]
    return top_loss_tokens(results, tokenizer, n)


class Lazy:
    """A reward model opened on first use, so a fully cached corpus never loads it."""

    def __init__(self, opener: Callable[[], RewardModel]):
        self._opener, self._model = opener, None

    def _get(self) -> RewardModel:
        if self._model is None:
            self._model = self._opener()
        return self._model

    def score(self, pairs):
        return self._get().score(pairs)

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
