"""Params of the problem sources (stage problems) and of decontamination."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qup.config.base import Strict


class FileSource(Strict):
    path: str | None = None
    type: Literal["jsonl", "csv", "parquet"] | None = None  # None: from the extension
    shape: Literal["gsm8k", "math", "columns"] = "columns"
    columns: dict[str, str] = {}


class HubSourceParams(Strict):
    preset: Literal["gsm8k", "math", "numina"] | None = "gsm8k"
    dataset: str | None = None
    config: str | None = None
    revision: str | None = None  # a branch, tag or commit to read; None: main (the commit read is in the metrics)
    shape: Literal["gsm8k", "math", "columns"] | None = None
    splits: list[str] = ["train", "test"]
    use_source_split: bool = True
    columns: dict[str, str] = {}


class ProblemsParams(Strict):
    source: Literal["toy", "file", "hf"] = "toy"
    n_train: int = Field(600, ge=1)
    n_test: int = Field(200, ge=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    max_rejected_share: float = Field(0.05, ge=0, le=1)
    max_chars: int = Field(4000, ge=1)  # longest question
    # longest written solution: real MATH train has 11 over 4,000 characters (the longest 6,767), and
    # long chain-of-thought sources (NuminaMath) run longer still
    max_solution_chars: int = Field(16000, ge=1)
    # a selection, not a check: only problems whose written solution has at most this many lines (GSM8K's: one
    # line per step) take part; one without a written solution is left out too. None: every problem
    max_solution_lines: int | None = Field(None, ge=1)
    file: FileSource = FileSource()
    hf: HubSourceParams = HubSourceParams()

    @model_validator(mode="after")
    def _file_needs_path(self):
        if self.source == "file" and not self.file.path:
            raise ValueError("problems.source is 'file' but problems.file.path is not set")
        return self


class DecontaminateParams(Strict):
    """Drop training problems that overlap the test split or a benchmark: a shared word n-gram
    (lowercased, whitespace-normalised, as open-r1 does with n = 8) or the same normalised text."""

    # open-r1 uses 8 on natural-language problems; the toy world's questions are templated (one sentence per step),
    # so 64% of its train problems share an 8-gram with its test split, and 13 (GPT-3's rule) finds near-copies
    ngram: int = Field(13, ge=1)
