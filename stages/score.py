"""DVC stages `score@<corpus>`: reward models, adaptation cost and style distance of one corpus.

Usage: ``python -m stages.score <corpus>``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl
from transformers import AutoModelForCausalLM, AutoTokenizer

from qup.config import ModelRef, load_params
from qup.models import directory_digest, resolve_model
from qup.prompts import load_prompt
from qup.records import write_json, write_parquet
from qup.engines import make_engine
from qup.scoring.corpus import hf_nll, open_reward_model, score_corpus

CACHE = Path(".qup-cache/score")
TOY_RM = Path("data/reward_model")


def reward_model_path(ref) -> tuple[str, str]:
    """Where a reward model's weights are, and the revision that keys its cached scores."""
    if ref.name == "toy":
        return str(TOY_RM), directory_digest(TOY_RM)
    entry = resolve_model("reward", ModelRef(name=ref.name, revision=ref.revision, dtype=ref.dtype))
    return entry["path"], entry["revision"]


def main(name: str) -> None:
    params = load_params()
    cfg = params.scoring
    corpus = pl.read_parquet(f"data/corpora/{name}.parquet")
    manifest = json.loads(Path("data/models/manifest.json").read_text())
    slm_entry = next(m for m in manifest["models"] if m["role"] == "slm")
    tokenizer = AutoTokenizer.from_pretrained(slm_entry["path"])
    server = None
    if cfg.nll_engine == "sglang":  # prompt logprobs from an SGLang server, with the SLM engine's options
        server = make_engine(params.engines.slm.model_copy(update={"engine": "sglang"}), slm_entry)
        nll_fn = server.response_nll
    else:
        slm = AutoModelForCausalLM.from_pretrained(slm_entry["path"], dtype="auto").eval()
        nll_fn = hf_nll(slm, tokenizer, cfg.nll_batch_size)
    reward_models = []
    for ref in cfg.reward_models:
        path, revision = reward_model_path(ref)
        reward_models.append((ref.column, lambda ref=ref, path=path: open_reward_model(ref, path), revision))
    native_samples = pl.read_parquet("data/samples/native.parquet")["response"].to_list()
    started = time.perf_counter()
    try:
        scores, metrics = score_corpus(
            corpus, prompt=load_prompt(params.native.prompt), nll_fn=nll_fn, slm_tokenizer=tokenizer,
            slm_key=slm_entry["revision"], reward_models=reward_models, native_samples=native_samples,
            top_tokens=cfg.top_tokens, resamples=cfg.bootstrap, seed=params.seed, cache_dir=CACHE / name,
            shard_size=cfg.shard_size)
    finally:
        if server is not None:
            server.close()
    metrics.update(corpus=name, seconds=round(time.perf_counter() - started, 1))
    write_parquet(scores, f"data/scores/{name}.parquet")
    write_json(metrics, f"metrics/quality/{name}.json")
    rewards = ", ".join(f"{label} {v['mean']:.3f}" for label, v in metrics["reward"].items() if v["mean"] is not None)
    ppl = metrics["perplexity"]["mean"]
    print(f"score@{name}: {metrics['traces']} traces, perplexity {ppl if ppl is None else round(ppl, 3)}, "
          f"reward {rewards or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
