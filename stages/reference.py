"""DVC stage `reference`: the dataset's own written solutions of the shared problems, as a corpus."""

from __future__ import annotations

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.corpora.build import build_reference, describe
from qup.records import write_json, write_parquet


def main(params: Params) -> None:
    problems = pl.read_parquet(paths.TRAIN_PROBLEMS)
    native = pl.read_parquet(paths.corpus("native"))
    corpus, attempts, metrics = build_reference(native, problems)
    write_parquet(attempts, paths.attempts("reference"))
    write_parquet(corpus, paths.corpus("reference"))
    write_json(metrics, paths.corpus_metrics("reference"))
    print(describe(metrics))


if __name__ == "__main__":
    main(load_params())
