"""DVC stages `train@<corpus>`: fine-tune the SLM on one corpus once per training objective and seed, with the
budget every corpus gets. They run in one process, so torch, transformers and TRL load once.

Usage: ``python -m stages.train <corpus>``. With ``train.launcher.name: accelerate`` it re-runs itself under
``accelerate launch`` (``train.launcher.processes``, ``train.launcher.config_file``); the global batch stays
``train.global_batch_size`` whatever the number of processes.
"""

from __future__ import annotations

import json
import os
import sys

import polars as pl

from qup import paths
from qup.config import Params, load_params
from qup.launch import launched, relaunch
from qup.manifest import slm_entry
from qup.prompts import load_prompt
from qup.records import write_json
from qup.training import run_key, sft_dataset, train_checkpoint, training_problems, world_size


def main(params: Params, name: str) -> None:
    if name not in params.corpora:
        raise SystemExit(f"unknown corpus {name!r}; params corpora: {', '.join(params.corpora)}")
    if params.train.launcher.name == "accelerate" and not launched():
        relaunch(params.train.launcher, "stages.train", [name])
    corpora = {c: pl.read_parquet(paths.corpus(c)) for c in params.corpora}
    problems = training_problems(corpora, params.train.examples, params.seed)
    dataset = sft_dataset(corpora[name], problems, load_prompt(params.native.prompt))
    slm = slm_entry()
    data = json.dumps(dataset.to_list())
    per_objective = {}
    for objective in params.train.run_objectives:
        single = params.train.for_objective(objective)  # each objective trains as a run of it alone would
        runs = {}
        for seed in params.train.seeds:
            key = run_key(single, seed, slm["revision"], data)
            run = runs[str(seed)] = train_checkpoint(
                slm["path"], dataset, paths.checkpoint(name, seed, objective), single, seed=seed,
                work_dir=paths.cache("train") / f"{name}-{key}",
                live_dir=paths.training_curves(name, objective, seed))
            resumed = f" (resumed from {os.path.basename(run['resumed_from'])})" if run["resumed_from"] else ""
            print(f"train@{name} {objective} seed {seed}: {run['steps']} steps{resumed}, loss {run['train_loss']:.4f}, "
                  f"{run['train_seconds']}s")
        per_objective[objective] = {"steps": runs[str(params.train.seeds[0])]["steps"],
                                    "train_loss": sum(r["train_loss"] for r in runs.values()) / len(runs),
                                    "per_seed": runs}
    if int(os.environ.get("RANK", "0")) == 0:
        primary = params.train.run_objectives[0]
        first = per_objective[primary]["per_seed"][str(params.train.seeds[0])]
        # the top-level figures are the primary objective's, as a run of it alone writes them
        metrics = {"corpus": name, "examples": len(problems), "method": params.train.method,
                   "objective": primary, "dtype": first["dtype"], "processes": world_size(),
                   "batch_size": params.train.batch_size, "global_batch_size": params.train.global_batch,
                   "gradient_accumulation": params.train.gradient_accumulation(world_size()),
                   "seeds": params.train.seeds, **per_objective[primary], "per_objective": per_objective}
        write_json(metrics, paths.train_metrics(name))


if __name__ == "__main__":
    main(load_params(), sys.argv[1] if len(sys.argv) > 1 else "")
