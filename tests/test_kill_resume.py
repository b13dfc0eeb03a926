"""Every long stage resumes: killed (SIGKILL) mid-way and rerun, it keeps its finished work and ends
with the outputs of an unbroken run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from test_scoring import save_toy_reward_model
from test_training import corpus, training_world, write_params  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[1]
# what a resumed run reports differently: timing, and the checkpoint it resumed from
TIMING = {"seconds", "train_seconds", "resumed_from", "runtime", "samples_per_second", "steps_per_second"}


def command(stage: str, name: str) -> list[str]:
    return [sys.executable, "-m", f"stages.{stage}", name]


def environment() -> dict:
    # string hashing fixed: score@'s style divergences sum over a set, in hash order, so two unbroken runs
    # differ in their last digits (qup/scoring/style.py)
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1",
            "PYTHONHASHSEED": "0"}


def run(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def kill_when(cmd: list[str], cwd: Path, ready, timeout: float = 300) -> None:
    """Start ``cmd`` and SIGKILL it as soon as ``ready()`` holds; it must not have finished by then."""
    with open(cwd / "killed.log", "w") as log:
        process = subprocess.Popen(cmd, cwd=cwd, env=environment(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not ready():
            assert process.poll() is None, f"finished before it was killed:\n{(cwd / 'killed.log').read_text()}"
            assert time.monotonic() < deadline, "never got ready"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def remove_outputs(world: Path, outputs: list[str]) -> None:
    """What DVC does before it reruns a stage."""
    for out in outputs:
        path = world / out
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def files(path: Path) -> dict[str, Path]:
    """The files of an output, by their path inside it ("" for an output that is a file)."""
    if path.is_file():
        return {"": path}
    return {p.relative_to(path).as_posix(): p for p in sorted(path.rglob("*")) if p.is_file()}


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING}
    return value


def assert_same_outputs(broken: Path, unbroken: Path, outputs: list[str]) -> None:
    """Byte-equal outputs, but for timing: JSON compared without ``TIMING``'s keys, dvclive's timing curves
    skipped."""
    for out in outputs:
        mine, theirs = files(broken / out), files(unbroken / out)
        assert mine.keys() == theirs.keys(), out
        for name, path in theirs.items():
            if path.suffix == ".json":
                assert without_timing(json.loads(mine[name].read_text())) == without_timing(
                    json.loads(path.read_text())), mine[name]
            elif path.stem not in TIMING:
                assert mine[name].read_bytes() == path.read_bytes(), mine[name]


def shard_times(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("shard-*.parquet")}


def kill_rerun_compare(world: Path, stage: str, name: str, cache: Path, outputs: list[str], shards: int) -> str:
    """An unbroken run in a copy of ``world``; in ``world``, a run killed after its first shard, then a rerun.
    Returns the rerun's log."""
    unbroken = world.with_name(world.name + "-unbroken")
    shutil.copytree(world, unbroken)
    run(command(stage, name), unbroken)
    assert len(shard_times(unbroken / cache)) == shards
    kill_when(command(stage, name), world, lambda: len(shard_times(world / cache)) >= 1)
    kept = shard_times(world / cache)
    assert 1 <= len(kept) < shards
    remove_outputs(world, outputs)
    log = run(command(stage, name), world)
    finished = shard_times(world / cache)
    assert len(finished) == shards and all(finished[s] == t for s, t in kept.items())  # none redone
    assert_same_outputs(world, unbroken, outputs)
    return log


def slm_world(root: Path, tiny_model_dir: Path) -> Path:
    shutil.copytree(tiny_model_dir, root / "data/models/slm")
    (root / "data/models/manifest.json").write_text(json.dumps(
        {"models": [{"role": "slm", "id": "toy", "revision": "r1", "path": "data/models/slm", "dtype": "float32"}]}))
    return root


@pytest.mark.slow
def test_a_killed_score_stage_keeps_its_finished_shards(tmp_path, tiny_model_dir):
    world = slm_world(tmp_path / "world", tiny_model_dir)
    save_toy_reward_model(world / "data/reward_model")
    rows = [{"corpus": "style_aligned", "problem_id": f"p{i}", "trace_id": f"style_aligned:p{i}",
             "parent_id": f"sample:p{i}:0", "question": f"Ana has {i} pens. Ana buys 2 more. How many pens now?",
             "response": f"{i} + 2 = {i + 2}\nAnswer: {i + 2}", "answer": str(i + 2), "gold": str(i + 2),
             "source_response": f"{i} + 2 = {i + 2}\nAnswer: {i + 2} ", "edit_distance": 0.01 * i} for i in range(40)]
    (world / "data/corpora").mkdir(parents=True)
    (world / "data/samples").mkdir(parents=True)
    pl.DataFrame(rows).write_parquet(world / "data/corpora/style_aligned.parquet")
    pl.DataFrame({"response": ["3 + 2 = 5\nAnswer: 5", "9 - 4 = 5\nAnswer: 5"]}).write_parquet(
        world / "data/samples/native.parquet")
    (world / "params.yaml").write_text("scoring: {shard_size: 2, bootstrap: 50}\n")
    log = kill_rerun_compare(world, "score", "style_aligned", Path(".qup-cache/score"),
                             ["data/scores/style_aligned.parquet", "metrics/quality/style_aligned.json"], shards=40)
    assert "already done" in log


@pytest.mark.slow
def test_a_killed_evaluate_stage_keeps_its_finished_shards(tmp_path, tiny_model_dir):
    world = slm_world(tmp_path / "world", tiny_model_dir)
    (world / "data/problems").mkdir(parents=True)
    pl.DataFrame({"id": [f"t{i}" for i in range(12)], "question": [f"Leo has {i} cards. How many?" for i in range(12)],
                  "answer": [str(i) for i in range(12)]}).write_parquet(world / "data/problems/test.parquet")
    (world / "params.yaml").write_text(
        "evaluate: {k: 2, max_new_tokens: 24, shard_size: 2, benchmarks: []}\n")
    log = kill_rerun_compare(world, "evaluate", "base", Path(".qup-cache/evaluate"),
                             ["data/eval/base.parquet", "metrics/eval/base.json"], shards=6)
    assert "already done" in log


def checkpoint_steps(cache: Path) -> list[int]:
    """The step of every complete checkpoint under ``cache`` (the trainer writes its state file last)."""
    return sorted(int(p.parent.name.split("-")[1]) for p in cache.glob("*/checkpoint-*/trainer_state.json"))


@pytest.mark.slow
def test_a_killed_train_stage_keeps_its_finished_seed_and_resumes_the_next(training_world):  # noqa: F811
    write_params(training_world, seeds=[0, 1])
    outputs = ["data/checkpoints/native", "dvclive/train/native", "metrics/train/native.json"]
    unbroken = training_world.with_name(training_world.name + "-unbroken")
    shutil.copytree(training_world, unbroken)
    run(command("train", "native"), unbroken)
    cache = training_world / ".qup-cache/train"
    # seed 0 finished (its last checkpoint, step 6, kept) and seed 1 past its first checkpoint (step 2)
    kill_when(command("train", "native"), training_world, lambda: checkpoint_steps(cache)[:1] == [2]
              and checkpoint_steps(cache)[-1:] == [6])
    finished_seed = next(p for p in cache.glob("*/checkpoint-6"))
    finished = {p: p.stat().st_mtime_ns for p in finished_seed.rglob("*")}
    remove_outputs(training_world, outputs)
    log = run(command("train", "native"), training_world)
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # seed 0's checkpoint is not rewritten
    assert "seed 0: 6 steps (resumed from checkpoint-6)" in log
    assert "seed 1: 6 steps (resumed from checkpoint-2)" in log or "seed 1: 6 steps (resumed from checkpoint-4)" in log
    assert_same_outputs(training_world, unbroken, outputs)
