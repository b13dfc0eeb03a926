"""`dvc repro` of the stages on a miniature params set, in a temporary copy of the repo."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MINIATURE = {
    "problems": {"n_train": 30, "n_test": 12},
    "models": {"toy_slm": {"train_steps": 12, "warmup_steps": 2, "checkpoint_every": 5, "threads": 1},
               "eval": {"k": 2, "max_new_tokens": 40, "batch_size": 32}},
    "native": {"k": 2, "max_new_tokens": 40, "shard_size": 8},
}


def merge(base: dict, change: dict) -> dict:
    out = dict(base)
    for key, value in change.items():
        out[key] = merge(base[key], value) if isinstance(value, dict) and key in base else value
    return out


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(cwd)}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture
def study(tmp_path):
    copy = tmp_path / "study"
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    for name in tracked:
        if name.startswith(("data/problems", "data/models", "metrics/", "dvc.lock")):
            continue
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, target)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    (copy / "params.yaml").write_text(yaml.safe_dump(merge(params, MINIATURE)))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run(["git", "init", "-q"], copy)
    if not (copy / ".dvc").exists():
        run([sys.executable, "-m", "dvc", "init", "-q"], copy)
    run(git + ["add", "-A"], copy)
    run(git + ["commit", "-qm", "miniature"], copy)
    return copy


@pytest.mark.slow
def test_repro_builds_every_stage_and_exp_run_reruns_what_changed(study):
    dvc = [sys.executable, "-m", "dvc"]
    run(dvc + ["repro"], study)
    assert pl.read_parquet(study / "data/problems/train.parquet").height == 30
    assert pl.read_parquet(study / "data/problems/test.parquet").height == 12
    metrics = json.loads((study / "metrics/models.json").read_text())
    assert 0 <= metrics["slm_greedy_accuracy"] <= 1 and 0 <= metrics["slm_pass_at_k"] <= 1
    manifest = json.loads((study / "data/models/manifest.json").read_text())
    assert manifest["models"][0]["id"] == "toy" and (study / "data/models/slm/config.json").exists()
    samples = pl.read_parquet(study / "data/samples/native.parquet")
    assert samples.height == 60 and samples["prompt"].unique().to_list() == ["toy_solve@v1"]
    native = json.loads((study / "metrics/native.json").read_text())
    corpus = pl.read_parquet(study / "data/corpora/native.parquet")
    assert corpus.height == native["shared_problems"] and corpus["problem_id"].is_unique().all()
    for name in ("oracle_synth", "oracle_refined", "style_aligned", "reference"):
        built = pl.read_parquet(study / f"data/corpora/{name}.parquet")
        assert built.columns == corpus.columns and set(built["problem_id"]) <= set(corpus["problem_id"])
        assert json.loads((study / f"metrics/corpora/{name}.json").read_text())["shared_problems"] == corpus.height
    assert "up to date" in run(dvc + ["status"], study)

    out = run(dvc + ["exp", "run", "-S", "oracle.style_aligned_max_edit=0.3"], study)
    assert "Running stage 'style_aligned'" in out
    assert not any(f"Running stage '{s}'" in out for s in ("models", "native", "oracle_refine", "oracle_synth"))

    out = run(dvc + ["exp", "run", "-S", "problems.n_train=20"], study)
    assert "Running stage 'problems'" in out and "Running stage 'models'" in out
    assert "Running stage 'native'" in out
    assert pl.read_parquet(study / "data/problems/train.parquet").height == 20
