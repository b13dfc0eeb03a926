"""The toy SLM as the ``models`` stage's model source: trained from scratch, saved as a hub model
would be, and measured on the test split."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl

from qup.config import EngineParams, HFOptions, Params
from qup.digests import directory_digest
from qup.engines import Engine, Sampling, make_engine
from qup.grading import is_correct
from qup.toy.tokenizer import build_char_tokenizer
from qup.toy.train_slm import train_slm

TOY = "toy"


def toy_slm(params: Params, train: pl.DataFrame, test: pl.DataFrame, out_dir: Path,
            cache_dir: Path) -> tuple[dict, dict]:
    """Train the toy SLM and measure it: its manifest entry, and its training and test figures."""
    entry, summary = train_toy_models(params, train["question"].to_list(), test["question"].to_list(), out_dir,
                                      cache_dir)
    return entry, {**summary, **evaluate_toy_slm(params, entry, test["question"].to_list(), test["answer"].to_list())}


def train_toy_models(params: Params, train_questions: list[str], test_questions: list[str], out_dir: Path,
                     cache_dir: Path, progress: bool = True) -> tuple[dict, dict]:
    """Train the toy tokenizer and SLM; save them to ``out_dir/slm`` with ``save_pretrained``.

    Questions of both splits are kept out of the SLM's training stream. Training checkpoints
    under ``cache_dir`` (keyed by everything that shapes the run) let a crashed run resume.
    """
    seed = params.seed if params.models.toy_slm.seed is None else params.models.toy_slm.seed
    key = hashlib.sha256(json.dumps([seed, params.toy.model_dump(), params.models.toy_slm.model_dump(exclude={"seed"}),
                                     sorted(train_questions), sorted(test_questions)]).encode()).hexdigest()[:16]
    tokenizer = build_char_tokenizer()
    model, summary = train_slm(tokenizer, params.models.toy_slm, params.toy, seed=seed,
                               exclude=set(train_questions) | set(test_questions),
                               checkpoint_dir=cache_dir / f"slm-{key}", progress=progress)
    final = out_dir / "slm"
    staging = out_dir / ".slm.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    entry = {"role": "slm", "id": TOY, "revision": directory_digest(final), "path": str(final),
             "dtype": "float32", "source": "toy"}
    return entry, summary


def evaluate_toy_slm(params: Params, entry: dict, questions: list[str], golds: list[str]) -> dict:
    """The freshly trained toy SLM's own figures on the test split, decoded in process."""
    evaluation = params.models.eval
    engine_params = EngineParams(engine="hf", hf=HFOptions(batch_size=evaluation.batch_size,
                                                           workers=evaluation.workers))
    with make_engine(engine_params, entry, progress=True) as engine:
        return evaluate_solver(engine, questions, golds, k=evaluation.k, temperature=evaluation.temperature,
                               max_new_tokens=evaluation.max_new_tokens, seed=params.seed)


def evaluate_solver(engine: Engine, questions: list[str], golds: list[str], *, k: int, temperature: float,
                    max_new_tokens: int, seed: int) -> dict:
    """Greedy accuracy and pass@k (k samples at ``temperature``) of a model that reads bare questions."""
    conversations = [[{"role": "user", "content": q}] for q in questions]
    greedy = engine.generate(conversations, 1, Sampling(temperature=0.0, max_new_tokens=max_new_tokens, seed=seed))
    sampled = engine.generate(conversations, k, Sampling(temperature=temperature, max_new_tokens=max_new_tokens,
                                                         seed=seed))
    greedy_right = [is_correct(c[0].text, g) for c, g in zip(greedy, golds)]
    sample_right = [[is_correct(s.text, g) for s in samples] for samples, g in zip(sampled, golds)]
    n = len(questions)
    return {
        "slm_greedy_accuracy": sum(greedy_right) / n,
        "slm_pass_at_k": sum(any(r) for r in sample_right) / n,
        "slm_mean_accuracy_at_k": sum(sum(r) / k for r in sample_right) / n,
        "k": k,
        "temperature": temperature,
        "n_test": n,
    }
