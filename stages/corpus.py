"""DVC stages `candidates@<name>` and `corpus@<name>`: one corpus of params `corpora`, in two steps.

`candidates@<name>` builds a corpus of a kind drawn from the SLM's samples, the Oracle or the dataset (native,
oracle, reference) into data/candidates/<name>/ (a derived kind leaves only a note there). `corpus@<name>`
publishes it unchanged as data/corpora/<name>.parquet, or builds a derived kind (select, mix, self_rewrite)
from what every candidates@ stage built. Two steps because a corpus stage cannot depend on data/corpora,
which holds its own output (docs/pipeline.md, "Corpora drawn from other corpora").

Usage: ``python -m stages.corpus <name> --candidates`` (candidates@), ``python -m stages.corpus <name>`` (corpus@).
"""

from __future__ import annotations

import sys

from qup import paths
from qup.config import Params, load_params
from qup.config.corpora import DERIVED_KINDS
from qup.corpora.pool import publish, write_built, write_derived_marker
from qup.records import write_json, write_parquet


def _known(params: Params, name: str) -> None:
    if name not in params.corpora:
        raise SystemExit(f"unknown corpus {name!r}; params corpora: {', '.join(params.corpora)}")


def candidates(params: Params, name: str) -> None:
    """Stage candidates@<name>."""
    import polars as pl

    from qup.corpora.build import BudgetExceeded, describe
    from qup.corpora.kinds import build

    _known(params, name)
    kind = params.corpora[name].kind
    if kind in DERIVED_KINDS:
        write_derived_marker(name, kind)
        print(f"candidates@{name}: kind {kind} draws from other corpora; corpus@{name} builds it")
        return
    samples = pl.read_parquet(paths.NATIVE_SAMPLES)
    problems = pl.read_parquet(paths.TRAIN_PROBLEMS)
    try:
        built = build(params, name, samples, problems)
    except BudgetExceeded as err:
        raise SystemExit(f"candidates@{name}: {err}.\nTo go on, raise the budget and rerun; cached shards are "
                         f"reused, not paid for again: dvc exp run -S oracle.max_cost=<USD> (or set oracle.max_cost "
                         f"in params.yaml, then dvc repro corpus@{name})") from None
    write_built(name, built)
    metrics = built[2]
    calls = "" if "calls" not in metrics else (
        f"; {metrics['calls']} Oracle calls, {metrics['prompt_tokens']:,} prompt and "
        f"{metrics['completion_tokens']:,} completion tokens, ${metrics['cost_usd']:.2f}")
    print(describe(metrics) + calls)


def main(params: Params, name: str) -> None:
    """Stage corpus@<name>."""
    from qup.corpora.build import describe

    _known(params, name)
    if params.corpora[name].kind not in DERIVED_KINDS:
        print(f"corpus@{name}: " + describe(publish(name)))
        return
    from qup.corpora.derived import CannotDerive, derive

    try:
        corpus, attempts, metrics = derive(params, name)
    except CannotDerive as err:
        raise SystemExit(f"corpus@{name}: {err}") from None
    write_parquet(attempts, paths.attempts(name))
    write_parquet(corpus, paths.corpus(name))
    write_json(metrics, paths.corpus_metrics(name))
    sources = ", ".join(f"{source} {n['won']}" for source, n in metrics.get("sources", {}).items())
    print(describe(metrics) + (f"; traces from {sources}" if sources else ""))


if __name__ == "__main__":
    args = sys.argv[1:]
    step = candidates if "--candidates" in args else main
    names = [a for a in args if a != "--candidates"]
    step(load_params(), names[0] if names else "")
