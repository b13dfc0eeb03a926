"""DVC stage `models`: train the toy world's models, or pin real ones in a manifest."""

from __future__ import annotations

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.manifest import write_manifest
from qup.models import TOY, evaluate_toy_slm, resolve_model, train_toy_models
from qup.records import write_json


def main(params: Params) -> None:
    train = pl.read_parquet(paths.TRAIN_PROBLEMS)
    test = pl.read_parquet(paths.TEST_PROBLEMS)
    paths.MODELS.mkdir(parents=True, exist_ok=True)
    metrics: dict = {}
    if params.models.slm.name == TOY:
        entry, summary = train_toy_models(params, train["question"].to_list(), test["question"].to_list(),
                                          paths.MODELS, paths.cache("models"))
        metrics = {**summary, **evaluate_toy_slm(params, entry, test["question"].to_list(), test["answer"].to_list())}
    else:
        entry = resolve_model("slm", params.models.slm)
    write_manifest([entry])
    write_json({"slm": entry["id"], **metrics}, paths.MODELS_METRICS)
    figures = ", ".join(f"{k}={metrics[k]:.3f}" for k in ("slm_greedy_accuracy", "slm_pass_at_k") if k in metrics)
    print(f"models: slm {entry['id']} at {entry['path']}" + (f" ({figures})" if figures else ""))


if __name__ == "__main__":
    main(load_params())
