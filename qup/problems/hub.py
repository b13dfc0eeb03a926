"""Problems from a Hugging Face hub dataset, with presets for the usual math sets."""

from __future__ import annotations

import os
from dataclasses import dataclass

from qup.config.benchmarks import BENCHMARKS  # the evaluation benchmarks, hub ones among them

PRESETS = {
    "gsm8k": {"dataset": "openai/gsm8k", "config": "main", "shape": "gsm8k"},
    "math": {"dataset": "DigitalLearningGmbH/MATH-lighteval", "config": "default", "shape": "math"},
    "numina": {"dataset": "AI-MO/NuminaMath-CoT", "config": None, "shape": "math",
               "columns": {"type": "source"}},
}


class HubUnreachable(RuntimeError):
    """The hub could not be reached for a dataset that is not cached locally."""


@dataclass(frozen=True)
class HubSource:
    dataset: str
    config: str | None
    shape: str
    columns: dict[str, str]


def resolve(preset: str | None, dataset: str | None, config: str | None, shape: str | None,
            columns: dict[str, str]) -> HubSource:
    """The dataset to load: a preset, optionally overridden field by field."""
    if preset and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    base = dict(PRESETS[preset]) if preset else {}
    name = dataset or base.get("dataset")
    if not name:
        raise ValueError("problems.hf needs a preset or a dataset name")
    return HubSource(name, config if config is not None else base.get("config"),
                     shape or base.get("shape", "columns"), {**base.get("columns", {}), **columns})


def benchmark_source(preset: str) -> tuple[HubSource, str]:
    """A hub benchmark preset's dataset and the split it is evaluated on."""
    spec = BENCHMARKS[preset]
    return HubSource(spec["dataset"], spec["config"], spec["shape"], spec.get("columns", {})), spec["split"]


def hub_rows(source: HubSource, splits: list[str], timeout: float = 15.0):
    """Rows of each split, tagged with the split they came from."""
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
    if not offline:
        from huggingface_hub import HfApi

        try:
            HfApi().dataset_info(source.dataset, timeout=timeout)
        except Exception as err:
            raise HubUnreachable(
                f"cannot reach the Hugging Face hub for dataset '{source.dataset}' ({type(err).__name__}: "
                f"{err}). To work offline, download it where the hub is reachable and point qup at the "
                "files: set problems.source=file and problems.file.path=<your .jsonl/.parquet/.csv> "
                "(with problems.file.shape gsm8k, math or columns), or set HF_HUB_OFFLINE=1 to use "
                "a local datasets cache."
            ) from err
    from datasets import load_dataset

    rows = []
    for split in splits:
        data = load_dataset(source.dataset, source.config, split=split)
        for number, record in enumerate(data, start=1):
            rows.append((number, {**record, "split": split}, f"hf:{source.dataset}/{split}"))
    return rows
