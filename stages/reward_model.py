"""DVC stage `reward_model`: train the reward models params score with that qup trains itself (the kinds of
qup/scoring/kinds.py: `toy`, the toy world's; `slm_head`, the SLM with a head fitted on its graded native
samples; `oracle_head`, the same head on the Oracle's body), and pin the others (hub ids, local directories) in
its manifest, for every score stage to load."""

from __future__ import annotations

import shutil

from qup import paths
from qup.config import Params, load_params
from qup.manifest import REWARD_MANIFEST, write_manifest
from qup.records import write_json
from qup.scoring.kinds import KINDS, pins, to_train


def main(params: Params) -> None:
    out = paths.REWARD_MODEL
    pinned = pins(params.scoring.reward_models)  # first: a model that cannot be found fails before any training
    staging = out.with_name(".reward_model.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    metrics: dict = {"trained": False}
    kinds = to_train(params.scoring.reward_models)
    for kind in kinds.values():
        metrics.update(kind.train(params, staging), trained=True)
    if not kinds:
        names = [f"`{name}`" for name, kind in KINDS.items() if kind.train is not None]
        names = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
        (staging / "README.md").write_text(f"No reward model named {names} in params scoring.reward_models.\n")
    if pinned:
        write_manifest(pinned, staging / REWARD_MANIFEST.name)
        metrics["pinned"] = {entry["label"]: {"id": entry["id"], "revision": entry["revision"]} for entry in pinned}
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    write_json(metrics, paths.REWARD_MODEL_METRICS)
    figures = [f"{name} right over wrong {metrics[kind.headline]:.3f}" for name, kind in kinds.items()]
    figures += [f"{entry['id']} pinned at {entry['revision'][:12]}" for entry in pinned]
    print("reward_model: " + (", ".join(figures) if figures else "nothing to train"))


if __name__ == "__main__":
    main(load_params())
