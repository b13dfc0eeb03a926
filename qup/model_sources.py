"""Model sources: a name in ``models.slm.name`` -> a function that makes that SLM here, in the
``models`` stage; any other name is a real model, resolved by ``qup.models.resolve_model``.

A source takes (params, train problems, test problems, output folder, cache folder) and returns the
SLM's manifest entry and its metrics. Each source's code is imported inside its entry, when params
name it, so that nothing else loads it (the toy world, torch).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from qup.config import Params


def _toy(params: Params, train: pl.DataFrame, test: pl.DataFrame, out_dir: Path, cache_dir: Path):
    from qup.toy.slm import toy_slm

    return toy_slm(params, train, test, out_dir, cache_dir)


MODEL_SOURCES = {"toy": _toy}
