"""DVC stage `reference`: the dataset's own written solutions of the shared problems, as a corpus."""

from __future__ import annotations

import polars as pl

from qup.corpora.build import build_reference, describe
from qup.records import write_json, write_parquet


def main() -> None:
    problems = pl.read_parquet("data/problems/train.parquet")
    native = pl.read_parquet("data/corpora/native.parquet")
    corpus, attempts, metrics = build_reference(native, problems)
    write_parquet(attempts, "data/attempts/reference.parquet")
    write_parquet(corpus, "data/corpora/reference.parquet")
    write_json(metrics, "metrics/corpora/reference.json")
    print(describe(metrics))


if __name__ == "__main__":
    main()
