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
    if params.problems.max_solution_lines is not None:
        metrics["over_max_solution_lines"] = problems.n_over_max_lines
    write_json(metrics, paths.PROBLEMS_METRICS)
    left_out = (f", {problems.n_over_max_lines} valid ones left out by max_solution_lines "
                f"{params.problems.max_solution_lines}" if params.problems.max_solution_lines is not None else "")
    print(f"problems: {metrics['train']} train, {metrics['test']} test, "
          f"{metrics['rejected']} rejected of {metrics['read']} read{left_out}")


if __name__ == "__main__":
    main(load_params())
