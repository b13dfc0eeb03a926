"""DVC stage `problems`: read, validate and split the configured problem source."""

from __future__ import annotations

import sys

from qup import paths
from qup.config import Params, load_params
from qup.problems import TooManyRejected, build_problem_set
from qup.records import write_json, write_parquet


def main(params: Params) -> None:
    try:
        problems = build_problem_set(params)
    except TooManyRejected as err:
        write_parquet(err.rejected, paths.REJECTED_PROBLEMS)
        sys.exit(f"problems: {err}\nThe rejected rows are in {paths.REJECTED_PROBLEMS}.")
    write_parquet(problems.train, paths.TRAIN_CANDIDATES)
    write_parquet(problems.test, paths.TEST_PROBLEMS)
    write_parquet(problems.rejected, paths.REJECTED_PROBLEMS)
    metrics = {"read": problems.n_read, "rejected": problems.rejected.height,
               "train": problems.train.height, "test": problems.test.height, "revision": problems.revision}
    write_json(metrics, paths.PROBLEMS_METRICS)
    print(f"problems: {metrics['train']} train, {metrics['test']} test, "
          f"{metrics['rejected']} rejected of {metrics['read']} read")


if __name__ == "__main__":
    main(load_params())
