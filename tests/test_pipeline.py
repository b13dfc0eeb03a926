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

from qup.config import merged
from tests.test_plots import check_built_study_plots

REPO = Path(__file__).resolve().parents[1]
# an easy world (one-step problems up to 10) that an 88k-parameter SLM learns in 200 steps, so that
# rejection sampling solves some problems and every later stage has a shared problem set to work on
MINIATURE = {
    "problems": {"n_train": 40, "n_test": 12},
    "toy": {"min_steps": 1, "max_steps": 1, "max_value": 10, "max_operand": 3, "allow_multiply": False},
    "models": {"toy_slm": {"hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 4,
                           "head_dim": 16, "train_steps": 200, "warmup_steps": 10, "learning_rate": 0.01,
                           "checkpoint_every": 50, "curriculum_fraction": 0, "threads": 1},
               "toy_rm": {"hidden_size": 16, "intermediate_size": 32, "num_layers": 1, "train_steps": 5,
                          "threads": 1},
               "eval": {"k": 2, "max_new_tokens": 40, "batch_size": 32}},
    "native": {"k": 4, "max_new_tokens": 40, "shard_size": 8},
    "scoring": {"bootstrap": 20},
    "train": {"examples": None, "batch_size": 4, "threads": 1, "seeds": [0, 1]},
    "evaluate": {"k": 2, "max_new_tokens": 60,
                 "benchmarks": [{"name": "toy_ood", "preset": "toy_ood", "max_problems": 6}]},
}


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(cwd)}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def make_study(tmp_path: Path, change: dict, files: dict[str, str] | None = None) -> Path:
    """A git + DVC copy of the repo's code (no outputs) with ``change`` merged into its params.yaml (as a preset
    is) and ``files`` (path: text) added."""
    copy = tmp_path / "study"
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    for name in tracked:
        if name.startswith(("data/", "metrics/", "dvc.lock", "dvclive/", "reports/")) and name != "data/raw/README.md":
            continue
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, target)
    for name, text in (files or {}).items():
        (copy / name).write_text(text)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    (copy / "params.yaml").write_text(yaml.safe_dump(merged(params, change), sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run(["git", "init", "-q"], copy)
    if not (copy / ".dvc").exists():
        run([sys.executable, "-m", "dvc", "init", "-q"], copy)
    run(git + ["add", "-A"], copy)
    run(git + ["commit", "-qm", "miniature"], copy)
    return copy


# a new Oracle corpus is one params entry and one prompt file (named for what the toy world's Oracle does: refine)
TERSE_PROMPT = ("Fix the mistakes in this attempt and keep it short.\n\nProblem:\n{question}\n\n"
                "Attempt:\n{trace}")
TERSE = {"kind": "oracle", "prompt": "refine_terse", "source": "native", "role": "other"}


@pytest.fixture
def study(tmp_path):
    corpora = {**yaml.safe_load((REPO / "params.yaml").read_text())["corpora"], "terse": TERSE}
    return make_study(tmp_path, {**MINIATURE, "corpora": corpora},
                      files={"qup/prompts/refine_terse.v1.txt": TERSE_PROMPT})


CORPORA = ("native", "oracle_refined", "oracle_synth", "style_aligned", "reference", "terse")


@pytest.mark.slow
def test_repro_builds_the_study_and_exp_run_reruns_only_what_changed(study, tmp_path):
    dvc = [sys.executable, "-m", "dvc"]
    run(dvc + ["repro"], study)
    assert pl.read_parquet(study / "data/problems/train.parquet").height == 40
    assert pl.read_parquet(study / "data/problems/test.parquet").height == 12
    metrics = json.loads((study / "metrics/models.json").read_text())
    assert 0 <= metrics["slm_greedy_accuracy"] <= 1 and metrics["slm_pass_at_k"] > 0
    manifest = json.loads((study / "data/models/manifest.json").read_text())
    assert manifest["models"][0]["id"] == "toy" and (study / "data/models/slm/config.json").exists()
    samples = pl.read_parquet(study / "data/samples/native.parquet")
    assert samples.height == 160 and samples["prompt"].unique().to_list() == ["toy_solve@v1"]
    native = json.loads((study / "metrics/native.json").read_text())
    corpus = pl.read_parquet(study / "data/corpora/native.parquet")
    assert corpus.height == native["shared_problems"] > 0 and corpus["problem_id"].is_unique().all()
    for name in CORPORA:
        built = pl.read_parquet(study / f"data/corpora/{name}.parquet")
        assert built.columns == corpus.columns and set(built["problem_id"]) <= set(corpus["problem_id"])
        assert json.loads((study / f"metrics/corpora/{name}.json").read_text())["shared_problems"] == corpus.height
        quality = json.loads((study / f"metrics/quality/{name}.json").read_text())
        assert quality["traces"] == built.height and quality["reward"]["toy_orm"]["n"] == built.height
        assert all((study / f"data/checkpoints/{name}/sft/seed-{s}/adapter_config.json").exists() for s in (0, 1))
        evaluation = json.loads((study / f"metrics/eval/{name}.json").read_text())
        assert evaluation["n_test"] == 12 and evaluation["seeds"] == [0, 1]
        results = pl.read_parquet(study / f"data/eval/{name}.parquet")
        assert results.height == 24 + 12 and results["sample_answers"].list.len().unique().to_list() == [2]
        assert results.filter(pl.col("benchmark") == "toy_ood").height == 12  # 6 problems x 2 seeds
        assert evaluation["benchmarks"]["toy_ood"]["n_test"] == 6
    decontamination = json.loads((study / "metrics/decontaminate.json").read_text())
    assert decontamination["candidates"] == 40 and set(decontamination["by_benchmark"]) == {"test", "toy_ood"}
    summary = json.loads((study / "metrics/summary.json").read_text())
    assert set(summary["corpora"]) == set(CORPORA) and summary["verdict"].startswith("The paradox: this run")
    assert list(summary["benchmarks"]["per_benchmark"]) == ["test", "toy_ood"]
    assert summary["seeds"] == [0, 1] and "p_value" in summary["corpora"]["oracle_synth"]["delta_vs_native"]
    assert (study / "reports/summary.md").read_text().count("|") > 50
    check_built_study_plots(study, list(CORPORA), seeds=2)
    assert "up to date" in run(dvc + ["status"], study)
    listed = run(dvc + ["stage", "list"], study)  # the new corpus got every stage, and the plan and report see it
    assert all(f"{stage}@terse" in listed for stage in ("candidates", "corpus", "score", "train", "evaluate"))
    planned = run([sys.executable, "-m", "qup.cli", "plan", "--all"], study)
    assert next(line for line in planned.splitlines() if line.startswith("corpus@terse")).split()[1] == "symbolic"
    assert "| terse |" in (study / "reports/summary.md").read_text()
    assert pl.read_parquet(study / "data/corpora/terse.parquet")["prompt"].unique().to_list() == ["refine_terse@v1"]

    out = run(dvc + ["exp", "run", "-S", "corpora.style_aligned.judge=false"], study)  # it loses its judge scores
    assert "Running stage 'candidates@style_aligned'" in out and "Running stage 'score@style_aligned'" in out
    # every corpus@ copies its candidates again (they all depend on data/candidates), byte for byte: no other
    # corpus is scored again (train@ reruns for all: every corpus trains on the problems all corpora cover)
    assert not any(f"Running stage '{s}'" in out for s in ("models", "native", "candidates@oracle_refined",
                                                          "candidates@reference", "score@native",
                                                          "score@oracle_refined", "evaluate_base"))

    shown = run(dvc + ["exp", "show", "--json"], study)
    assert "avg_at_k" in shown and "greedy_accuracy" in shown


@pytest.mark.slow
def test_corpora_and_checkpoints_travel_through_a_dvc_remote(study, tmp_path):
    dvc = [sys.executable, "-m", "dvc"]
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run(dvc + ["repro", "candidates@style_aligned", "reward_model"], study)
    run(dvc + ["remote", "add", "-d", "shared", str(tmp_path / "remote")], study)
    run(dvc + ["push"], study)
    run(git + ["add", "-A"], study)
    run(git + ["commit", "-qm", "built"], study)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(study), str(clone)], tmp_path)
    assert not (clone / "data/candidates/style_aligned/corpus.parquet").exists()
    run(dvc + ["pull", "--with-deps", "candidates@style_aligned", "reward_model"], clone)  # those stages, their inputs
    for path in ("data/candidates/style_aligned/corpus.parquet", "data/models/slm/model.safetensors",
                 "data/reward_model/config.json"):
        assert (clone / path).read_bytes() == (study / path).read_bytes()
