"""Problems from a Hugging Face hub dataset, with presets for the usual math sets."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from qup.config.benchmarks import BENCHMARKS  # the evaluation benchmarks, hub ones among them

PRESETS = {
    "gsm8k": {"dataset": "openai/gsm8k", "config": "main", "shape": "gsm8k"},
    "math": {"dataset": "DigitalLearningGmbH/MATH-lighteval", "config": "default", "shape": "math"},
    "numina": {"dataset": "AI-MO/NuminaMath-CoT", "config": None, "shape": "math",
               "columns": {"type": "source"}},
}


COMMIT = re.compile(r"[0-9a-f]{40}")


class HubUnreachable(RuntimeError):
    """The hub could not be reached for a dataset that is not cached locally."""


@dataclass(frozen=True)
class HubSource:
    dataset: str
    config: str | None
    shape: str
    columns: dict[str, str]
    revision: str | None = None  # a branch, tag or commit; None: main


def resolve(preset: str | None, dataset: str | None, config: str | None, shape: str | None,
            columns: dict[str, str], revision: str | None = None) -> HubSource:
    """The dataset to load: a preset, optionally overridden field by field."""
    if preset and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    base = dict(PRESETS[preset]) if preset else {}
    name = dataset or base.get("dataset")
    if not name:
        raise ValueError("problems.hf needs a preset or a dataset name")
    return HubSource(name, config if config is not None else base.get("config"),
                     shape or base.get("shape", "columns"), {**base.get("columns", {}), **columns}, revision)


def benchmark_source(preset: str, revision: str | None = None) -> tuple[HubSource, str]:
    """A hub benchmark preset's dataset (at ``revision``) and the split it is evaluated on."""
    spec = BENCHMARKS[preset]
    return HubSource(spec["dataset"], spec["config"], spec["shape"], spec.get("columns", {}), revision), spec["split"]


def pin(source: HubSource, timeout: float = 15.0) -> HubSource:
    """``source`` at the commit the hub resolves its revision to, so that every split is read at that one commit
    and the metrics can name it. Offline (``HF_HUB_OFFLINE=1``) the local cache is read as it is: the revision is
    kept when it is a commit, else None (unknown)."""
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
    if offline:
        commit = source.revision if source.revision and COMMIT.fullmatch(source.revision) else None
        return replace(source, revision=commit)
    from huggingface_hub import HfApi

    try:
        info = HfApi().dataset_info(source.dataset, revision=source.revision, timeout=timeout)
    except Exception as err:
        raise HubUnreachable(
            f"cannot reach the Hugging Face hub for dataset '{source.dataset}' ({type(err).__name__}: "
            f"{err}). To work offline, download it where the hub is reachable and point qup at the "
            "files: set problems.source=file and problems.file.path=<your .jsonl/.parquet/.csv> "
            "(with problems.file.shape gsm8k, math or columns), or set HF_HUB_OFFLINE=1 to use "
            "a local datasets cache."
        ) from err
    return replace(source, revision=info.sha)


def hub_rows(source: HubSource, splits: list[str]) -> list:
    """Rows of each split at ``source.revision`` (a ``pin``ned source: one commit), tagged with their split."""
    from datasets import load_dataset

    rows = []
    for split in splits:
        data = load_dataset(source.dataset, source.config, split=split, revision=source.revision)
        for number, record in enumerate(data, start=1):
            rows.append((number, {**record, "split": split}, f"hf:{source.dataset}/{split}"))
    return rows
