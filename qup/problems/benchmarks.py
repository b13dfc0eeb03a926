"""Evaluation benchmarks beside the test split: a toy out-of-distribution set, hub presets, local files.

Each is read, validated and normalised exactly like a problem source, so any ``problems`` shape works
and a bad row is named by file, row and field. A preset's ``source`` (``qup/config/benchmarks.py``) picks
its reader in ``PRESET_READERS``.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl

from qup.config import BenchmarkRef, Params
from qup.config.benchmarks import BENCHMARKS
from qup.problems import check_rejected_share
from qup.problems.validate import Validated, validate_rows
from qup.records import problems_frame, rejected_frame

OOD_SEED_OFFSET = 104_729  # keeps the out-of-distribution draw apart from the train/test draw


def toy_ood_rows(n: int, seed: int, toy) -> list:
    """``n`` toy problems one and two steps longer than the longest the SLM trains on."""
    from qup.toy.styles import render_textbook
    from qup.toy.world import generate_problems

    longer = toy.max_steps + 1
    problems = generate_problems(n, seed + OOD_SEED_OFFSET, min_steps=longer, max_steps=longer + 1,
                                 allow_multiply=toy.allow_multiply, max_value=toy.max_value,
                                 max_operand=toy.max_operand, prefix="toy_ood")
    return [(i, {"id": p.id, "question": p.question, "answer": str(p.answer), "solution": render_textbook(p),
                 "meta": p.computation_json()}) for i, p in enumerate(problems, start=1)]


def read_toy_ood(ref: BenchmarkRef, params: Params, limits: dict) -> Validated:
    """The toy world's out-of-distribution set: ``max_problems`` of them (200 when unset)."""
    return validate_rows(toy_ood_rows(ref.max_problems or 200, params.seed, params.toy), source=ref.name,
                         file="toy_ood", **limits)


def read_hub(ref: BenchmarkRef, params: Params, limits: dict) -> Validated:
    """A hub benchmark's evaluation split, at the commit ``ref.revision`` resolves to."""
    from qup.problems.hub import benchmark_source, hub_rows, pin

    hub, split = benchmark_source(ref.preset, ref.revision)
    hub = pin(hub)
    return validate_rows(hub_rows(hub, [split]), source=ref.name, file=f"hf:{hub.dataset}", shape=hub.shape,
                         columns=hub.columns, **limits)


PRESET_READERS = {"toy_ood": read_toy_ood, "hf": read_hub}  # a preset's source -> how its rows are read


def pinned(ref: BenchmarkRef) -> BenchmarkRef:
    """``ref`` with a hub preset's revision resolved to a commit (``qup.problems.hub.pin``), to read it at and
    record; any other benchmark as it is."""
    if ref.preset is None or BENCHMARKS[ref.preset]["source"] != "hf":
        return ref
    from qup.problems.hub import benchmark_source, pin

    return ref.model_copy(update={"revision": pin(benchmark_source(ref.preset, ref.revision)[0]).revision})


def read_benchmark(ref: BenchmarkRef, params: Params) -> Validated:
    """Every row of one benchmark, validated with the problem sources' limits."""
    limits = {"max_chars": params.problems.max_chars, "max_solution_chars": params.problems.max_solution_chars}
    if ref.file is None:
        return PRESET_READERS[BENCHMARKS[ref.preset]["source"]](ref, params, limits)
    from qup.problems.files import read_rows

    path = Path(ref.file.path)
    return validate_rows(read_rows(path, ref.file.type), source=ref.name, file=str(path), shape=ref.file.shape,
                         columns=ref.file.columns, **limits)


def build_benchmark(ref: BenchmarkRef, params: Params) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One benchmark's problems (at most ``max_problems``, a seeded draw) and its rejected rows."""
    result = read_benchmark(ref, params)
    check_rejected_share(result, params.problems.max_rejected_share, f"benchmark {ref.name}")
    if not result.accepted:
        raise ValueError(f"benchmark {ref.name}: no valid problems")
    rows = result.accepted
    if ref.max_problems is not None and len(rows) > ref.max_problems:
        rows = sorted(random.Random(f"benchmark:{ref.name}:{params.seed}").sample(rows, ref.max_problems),
                      key=lambda r: r["id"])
    return problems_frame(rows), rejected_frame(result.rejected)
