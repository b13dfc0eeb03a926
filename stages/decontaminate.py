"""DVC stage `decontaminate`: drop train problems that overlap the test split or any benchmark."""

from __future__ import annotations

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.problems.decontaminate import decontaminate
from qup.records import write_json, write_parquet


def main(params: Params) -> None:
    candidates = pl.read_parquet(paths.TRAIN_CANDIDATES)
    references = {"test": pl.read_parquet(paths.TEST_PROBLEMS)}
    references.update({ref.name: pl.read_parquet(paths.benchmark(ref.name)) for ref in params.evaluate.benchmarks})
    clean, drops, metrics = decontaminate(candidates, references, params.decontaminate.ngram)
    write_parquet(drops, paths.CONTAMINATED)
    if clean.is_empty():
        raise SystemExit(f"decontaminate: every one of the {candidates.height} train problems overlaps an evaluation "
                         f"set at {params.decontaminate.ngram}-grams; see {paths.CONTAMINATED}")
    write_parquet(clean, paths.TRAIN_PROBLEMS)
    write_json(metrics, paths.DECONTAMINATE_METRICS)
    overlaps = ", ".join(f"{name} {count}" for name, count in metrics["by_benchmark"].items())
    print(f"decontaminate: kept {metrics['kept']} of {metrics['candidates']} train problems; "
          f"dropped {metrics['dropped']} ({overlaps}; {params.decontaminate.ngram}-grams or exact)")


if __name__ == "__main__":
    main(load_params())
