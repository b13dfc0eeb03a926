"""DVC stage `reward_model`: train the toy world's reward model, when params score with one named `toy`."""

from __future__ import annotations

import shutil

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.records import write_json
from qup.toy.tokenizer import build_char_tokenizer
from qup.toy.train_rm import train_reward_model


def main(params: Params) -> None:
    out = paths.REWARD_MODEL
    staging = out.with_name(".reward_model.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    metrics: dict = {"trained": False}
    if any(ref.name == "toy" for ref in params.scoring.reward_models):
        questions = set(pl.read_parquet(paths.TRAIN_PROBLEMS)["question"]) | set(
            pl.read_parquet(paths.TEST_PROBLEMS)["question"])
        tokenizer = build_char_tokenizer()
        model, metrics = train_reward_model(tokenizer, params.models.toy_rm, params.toy, seed=params.seed,
                                            exclude=questions)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        metrics["trained"] = True
    else:
        (staging / "README.md").write_text("No reward model named `toy` in params scoring.reward_models.\n")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    write_json(metrics, paths.REWARD_MODEL_METRICS)
    print("reward_model: " + (f"right over wrong {metrics['rm_right_over_wrong']:.3f}, {metrics['rm_train_seconds']}s"
                              if metrics["trained"] else "nothing to train"))


if __name__ == "__main__":
    main(load_params())
