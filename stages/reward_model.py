"""DVC stage `reward_model`: train the reward models params score with that are trained here: `toy` (the toy
world's) and `slm_head` (the SLM with a head fitted on its graded native samples)."""

from __future__ import annotations

import shutil

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.manifest import slm_entry
from qup.prompts import load_prompt
from qup.records import write_json
from qup.scoring.head_rm import train_head_reward_model
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
    if any(ref.name == "slm_head" for ref in params.scoring.reward_models):
        head = train_head_reward_model(
            slm_entry()["path"], pl.read_parquet(paths.NATIVE_SAMPLES), pl.read_parquet(paths.TRAIN_PROBLEMS),
            load_prompt(params.native.prompt), staging / paths.SLM_HEAD_RM.name, params.models.head_rm,
            seed=params.seed)
        metrics.update({f"slm_head_{key}": value for key, value in head.items()}, trained=True)
    if not metrics["trained"]:
        (staging / "README.md").write_text("No reward model named `toy` or `slm_head` in params "
                                           "scoring.reward_models.\n")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    write_json(metrics, paths.REWARD_MODEL_METRICS)
    figures = [f"{name} right over wrong {metrics[key]:.3f}" for name, key in
               (("toy", "rm_right_over_wrong"), ("slm_head", "slm_head_rm_right_over_wrong")) if key in metrics]
    print("reward_model: " + (", ".join(figures) if figures else "nothing to train"))


if __name__ == "__main__":
    main(load_params())
