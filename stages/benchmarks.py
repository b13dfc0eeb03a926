"""DVC stage `benchmarks`: read and validate every evaluation benchmark in params `evaluate.benchmarks`."""

from __future__ import annotations

from qup import paths
from qup.config import Params, load_params
from qup.problems.benchmarks import build_benchmark, pinned
from qup.records import write_json, write_parquet


def main(params: Params) -> None:
    paths.BENCHMARKS.mkdir(parents=True, exist_ok=True)  # an empty list still leaves the folder DVC tracks
    metrics = {}
    for ref in map(pinned, params.evaluate.benchmarks):  # a hub preset read and recorded at one commit
        problems, rejected = build_benchmark(ref, params)
        write_parquet(problems, paths.benchmark(ref.name))
        if rejected.height:
            write_parquet(rejected, paths.benchmark_rejected(ref.name))
        metrics[ref.name] = {"problems": problems.height, "rejected": rejected.height,
                             "source": ref.preset or ref.file.path, "revision": ref.revision}
        print(f"benchmarks: {ref.name}: {problems.height} problems, {rejected.height} rejected")
    write_json(metrics, paths.BENCHMARKS_METRICS)


if __name__ == "__main__":
    main(load_params())
