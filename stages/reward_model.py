"""DVC stage `reward_model`: train the reward models params score with that qup trains itself (the kinds of
qup/scoring/kinds.py: `toy`, the toy world's, and `slm_head`, the SLM with a head fitted on its graded native
samples)."""

from __future__ import annotations

import shutil

from qup import paths
from qup.config import Params, load_params
from qup.records import write_json
from qup.scoring.kinds import KINDS, to_train


def main(params: Params) -> None:
    out = paths.REWARD_MODEL
    staging = out.with_name(".reward_model.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    metrics: dict = {"trained": False}
    kinds = to_train(params.scoring.reward_models)
    for kind in kinds.values():
        metrics.update(kind.train(params, staging), trained=True)
    if not kinds:
        names = " or ".join(f"`{name}`" for name, kind in KINDS.items() if kind.train is not None)
        (staging / "README.md").write_text(f"No reward model named {names} in params scoring.reward_models.\n")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    write_json(metrics, paths.REWARD_MODEL_METRICS)
    figures = [f"{name} right over wrong {metrics[kind.headline]:.3f}" for name, kind in kinds.items()]
    print("reward_model: " + (", ".join(figures) if figures else "nothing to train"))


if __name__ == "__main__":
    main(load_params())
