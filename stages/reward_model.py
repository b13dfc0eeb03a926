"""DVC stage `reward_model`: train the toy world's reward model, when params score with one named `toy`."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from qup.config import load_params
from qup.records import write_json
from qup.toy.tokenizer import build_char_tokenizer
from qup.toy.train_rm import train_reward_model

OUT = Path("data/reward_model")


def main() -> None:
    params = load_params()
    staging = OUT.with_name(".reward_model.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    metrics: dict = {"trained": False}
    if any(ref.name == "toy" for ref in params.scoring.reward_models):
        questions = set(pl.read_parquet("data/problems/train.parquet")["question"]) | set(
            pl.read_parquet("data/problems/test.parquet")["question"])
        tokenizer = build_char_tokenizer()
        model, metrics = train_reward_model(tokenizer, params.models.toy_rm, params.toy, seed=params.seed,
                                            exclude=questions)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        metrics["trained"] = True
    else:
        (staging / "README.md").write_text("No reward model named `toy` in params scoring.reward_models.\n")
    shutil.rmtree(OUT, ignore_errors=True)
    staging.rename(OUT)
    write_json(metrics, "metrics/reward_model.json")
    print("reward_model: " + (f"right over wrong {metrics['rm_right_over_wrong']:.3f}, {metrics['rm_train_seconds']}s"
                              if metrics["trained"] else "nothing to train"))


if __name__ == "__main__":
    main()
