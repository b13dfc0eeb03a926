"""What stage ``candidates@<name>`` leaves for ``corpus@<name>``: a built corpus, its attempts and its metrics.

A corpus of a kind built from the SLM's samples, the Oracle or the dataset (native, oracle, reference) is built
into ``data/candidates/<name>/`` and published unchanged, byte for byte, as ``data/corpora/<name>.parquet`` (with
its attempts and metrics); a derived corpus (select, mix, self_rewrite) reads the others from there. The split is
DVC's: a corpus stage cannot depend on ``data/corpora``, which holds its own output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl

from qup import paths
from qup.records import atomic_write, write_json, write_parquet

CANDIDATES = paths.DATA / "candidates"
Built = tuple[pl.DataFrame, pl.DataFrame, dict]


def built_dir(name: str) -> Path:
    """Where ``candidates@<name>`` writes: ``corpus.parquet``, ``attempts.parquet``, ``metrics.json``."""
    return CANDIDATES / name


def write_built(name: str, built: Built) -> None:
    corpus, attempts, metrics = built
    folder = built_dir(name)
    write_parquet(attempts, folder / "attempts.parquet")
    write_parquet(corpus, folder / "corpus.parquet")
    write_json(metrics, folder / "metrics.json")


def write_derived_marker(name: str, kind: str) -> None:
    """A derived corpus's ``candidates@`` output: nothing to build there, only what it is."""
    write_json({"corpus": name, "kind": kind, "derived": True}, built_dir(name) / "metrics.json")


def read_built(name: str) -> Built:
    """The corpus ``candidates@<name>`` built; an error names the missing file and the stage that writes it."""
    folder = built_dir(name)
    missing = [f for f in ("corpus.parquet", "attempts.parquet", "metrics.json") if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(f"{folder / missing[0]}: missing; run dvc repro candidates@{name}")
    return (pl.read_parquet(folder / "corpus.parquet"), pl.read_parquet(folder / "attempts.parquet"),
            json.loads((folder / "metrics.json").read_text()))


def publish(name: str) -> dict:
    """Copy what ``candidates@<name>`` built to where every later stage reads it; its metrics."""
    read_built(name)  # every file there, or a clear error
    folder = built_dir(name)
    for source, target in (("attempts.parquet", paths.attempts(name)), ("corpus.parquet", paths.corpus(name)),
                           ("metrics.json", paths.corpus_metrics(name))):
        atomic_write(target, lambda tmp, source=source: shutil.copyfile(folder / source, tmp))
    return json.loads((folder / "metrics.json").read_text())
