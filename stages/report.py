"""DVC stage `report`: the quality-against-utility table, plots, correlations and verdict."""

from __future__ import annotations

from qup.config import load_params
from qup.records import write_json
from qup.report import build_report


def main() -> None:
    params = load_params()
    summary = build_report(params.corpora, [ref.column for ref in params.scoring.reward_models])
    write_json(summary, "metrics/summary.json")
    print(summary["verdict"])


if __name__ == "__main__":
    main()
