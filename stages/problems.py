"""DVC stage `problems`: read, validate and split the configured problem source."""

from __future__ import annotations

import sys

from qup.config import load_params
from qup.problems import TooManyRejected, build_problem_set
from qup.records import write_json, write_parquet

OUT = "data/problems"


def main() -> None:
    params = load_params()
    try:
        problems = build_problem_set(params)
    except TooManyRejected as err:
        write_parquet(err.rejected, f"{OUT}/rejected.parquet")
        sys.exit(f"problems: {err}\nThe rejected rows are in {OUT}/rejected.parquet.")
    write_parquet(problems.train, f"{OUT}/train.parquet")
    write_parquet(problems.test, f"{OUT}/test.parquet")
    write_parquet(problems.rejected, f"{OUT}/rejected.parquet")
    metrics = {"read": problems.n_read, "rejected": problems.rejected.height,
               "train": problems.train.height, "test": problems.test.height}
    write_json(metrics, "metrics/problems.json")
    print(f"problems: {metrics['train']} train, {metrics['test']} test, "
          f"{metrics['rejected']} rejected of {metrics['read']} read")


if __name__ == "__main__":
    main()
