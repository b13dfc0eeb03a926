"""Params of the evaluate stages and their benchmarks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qup.config.base import Strict
from qup.config.benchmarks import BENCHMARKS
from qup.config.problems import FileSource

BENCHMARK_PRESETS = tuple(BENCHMARKS)  # the names a benchmark's preset may take


class BenchmarkRef(Strict):
    """An evaluation set beside the test split: a preset (of ``qup/config/benchmarks.py``) or a local file
    (any ``problems`` shape).

    ``toy_ood``: toy problems longer than any the SLM trained on (toy.max_steps + 1 and + 2 steps).
    The hub presets need the hub (or its local cache with HF_HUB_OFFLINE=1) and fail clearly without it.
    """

    name: str = Field(pattern=r"^[a-z0-9_]+$")  # labels its results; "test" is the test split's
    preset: Literal[BENCHMARK_PRESETS] | None = None
    file: FileSource | None = None
    revision: str | None = None  # a hub preset's branch, tag or commit; None: main (the commit read is in the metrics)
    max_problems: int | None = Field(None, ge=1)  # the first N problems (after a seeded shuffle); None: all

    @model_validator(mode="after")
    def _one_source(self):
        if (self.preset is None) == (self.file is None):
            raise ValueError(f"benchmark {self.name!r}: set exactly one of preset and file")
        if self.file is not None and not self.file.path:
            raise ValueError(f"benchmark {self.name!r}: file.path is not set")
        if self.revision is not None and BENCHMARKS.get(self.preset, {}).get("source") != "hf":
            raise ValueError(f"benchmark {self.name!r}: revision is for a hub preset's dataset only")
        if self.name == "test":
            raise ValueError("benchmark name 'test' is the test split's; choose another")
        return self


class EvaluateParams(Strict):
    """The evaluate@<corpus> and evaluate_base stages, on the test split and every benchmark."""

    k: int = Field(6, ge=1)  # Avg@k: pass@1 averaged over k samples at temperature
    max_problems: int | None = Field(None, ge=1)  # evaluate the first N test problems; None: all
    temperature: float = Field(1.0, ge=0)
    max_new_tokens: int = Field(384, ge=1)  # room for the Oracle's longer style
    shard_size: int = Field(100, ge=1)
    benchmarks: list[BenchmarkRef] = [BenchmarkRef(name="toy_ood", preset="toy_ood", max_problems=50)]

    @model_validator(mode="after")
    def _distinct_benchmarks(self):
        names = [b.name for b in self.benchmarks]
        if len(set(names)) != len(names):
            raise ValueError(f"evaluate.benchmarks: two benchmarks share a name ({', '.join(names)})")
        return self
