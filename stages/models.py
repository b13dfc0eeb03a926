"""DVC stage `models`: train the SLM where params name a model source (the toy world's), or pin a real one
in a manifest."""

from __future__ import annotations

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.manifest import write_manifest
from qup.model_sources import MODEL_SOURCES
from qup.models import resolve_model
from qup.records import write_json


def main(params: Params) -> None:
    train = pl.read_parquet(paths.TRAIN_PROBLEMS)
    test = pl.read_parquet(paths.TEST_PROBLEMS)
    paths.MODELS.mkdir(parents=True, exist_ok=True)
    source = MODEL_SOURCES.get(params.models.slm.name)
    if source is None:
        entry, metrics = resolve_model("slm", params.models.slm), {}
    else:
        entry, metrics = source(params, train, test, paths.MODELS, paths.cache("models"))
    write_manifest([entry])
    write_json({"slm": entry["id"], **metrics}, paths.MODELS_METRICS)
    figures = ", ".join(f"{k}={metrics[k]:.3f}" for k in ("slm_greedy_accuracy", "slm_pass_at_k") if k in metrics)
    print(f"models: slm {entry['id']} at {entry['path']}" + (f" ({figures})" if figures else ""))


if __name__ == "__main__":
    main(load_params())
