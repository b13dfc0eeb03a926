"""DVC stages `train@<corpus>`: fine-tune the SLM on one corpus, with the budget every corpus gets.

Usage: ``python -m stages.train <corpus>``, or under ``accelerate launch`` for several processes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import polars as pl

from qup.config import load_params
from qup.prompts import load_prompt
from qup.records import write_json
from qup.training import run_key, sft_dataset, train_checkpoint, training_problems

CACHE = Path(".qup-cache/train")


def main(name: str) -> None:
    params = load_params()
    if name not in params.corpora:
        raise SystemExit(f"unknown corpus {name!r}; params corpora: {', '.join(params.corpora)}")
    corpora = {c: pl.read_parquet(f"data/corpora/{c}.parquet") for c in params.corpora}
    problems = training_problems(corpora, params.train.examples, params.seed)
    dataset = sft_dataset(corpora[name], problems, load_prompt(params.native.prompt))
    manifest = json.loads(Path("data/models/manifest.json").read_text())
    slm = next(m for m in manifest["models"] if m["role"] == "slm")
    key = run_key(params.train, slm["revision"], json.dumps(dataset.to_list()))
    summary = train_checkpoint(slm["path"], dataset, Path(f"data/checkpoints/{name}"), params.train,
                               seed=params.seed, work_dir=CACHE / f"{name}-{key}", live_dir=Path(f"dvclive/train/{name}"))
    if int(os.environ.get("RANK", "0")) == 0:
        metrics = {"corpus": name, "examples": len(problems), "method": params.train.method,
                   "objective": params.train.objective, "processes": int(os.environ.get("WORLD_SIZE", "1")), **summary}
        write_json(metrics, f"metrics/train/{name}.json")
        print(f"train@{name}: {metrics['steps']} steps on {len(problems)} problems, loss {metrics['train_loss']:.4f}, "
              f"{metrics['train_seconds']}s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
