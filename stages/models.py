"""DVC stage `models`: train the toy world's models, or pin real ones in a manifest."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from qup.config import load_params
from qup.engines.hf import HFEngine
from qup.models import TOY, evaluate_solver, resolve_model, train_toy_models
from qup.records import write_json

OUT = Path("data/models")
CACHE = Path(".qup-cache/models")


def main() -> None:
    params = load_params()
    train = pl.read_parquet("data/problems/train.parquet")
    test = pl.read_parquet("data/problems/test.parquet")
    OUT.mkdir(parents=True, exist_ok=True)
    metrics: dict = {}
    if params.models.slm.name == TOY:
        entry, summary = train_toy_models(params, train["question"].to_list(), test["question"].to_list(),
                                          OUT, CACHE)
        evaluation = params.models.eval
        engine = HFEngine(entry["path"], batch_size=evaluation.batch_size)
        metrics = {**summary, **evaluate_solver(
            engine, test["question"].to_list(), test["answer"].to_list(), k=evaluation.k,
            temperature=evaluation.temperature, max_new_tokens=evaluation.max_new_tokens, seed=params.seed)}
    else:
        entry = resolve_model("slm", params.models.slm)
    write_json({"models": [entry]}, OUT / "manifest.json")
    write_json({"slm": entry["id"], **metrics}, "metrics/models.json")
    figures = ", ".join(f"{k}={metrics[k]:.3f}" for k in ("slm_greedy_accuracy", "slm_pass_at_k") if k in metrics)
    print(f"models: slm {entry['id']} at {entry['path']}" + (f" ({figures})" if figures else ""))


if __name__ == "__main__":
    main()
