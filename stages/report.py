"""DVC stage `report`: the quality-against-utility table, plots, correlations and verdict."""

from __future__ import annotations

from qup import paths
from qup.config import Params, load_params
from qup.records import write_json
from qup.report import build_report


def main(params: Params) -> None:
    summary = build_report(params.corpora, [ref.column for ref in params.scoring.reward_models], seed=params.seed)
    write_json(summary, paths.SUMMARY_METRICS)
    print(summary["verdict"])


if __name__ == "__main__":
    main(load_params())
