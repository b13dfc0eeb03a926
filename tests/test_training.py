"""Training a checkpoint per corpus: DFT's loss, equal budgets, resumable runs and a 2-process run."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import torch

from qup.config import TrainParams
from qup.prompts import load_prompt
from qup.training import BudgetError, sft_config, sft_dataset, training_problems

REPO = Path(__file__).resolve().parents[1]


def corpus(name, ids):
    return pl.DataFrame({"corpus": [name] * len(ids), "problem_id": ids,
                         "question": [f"Ana has {i} pens. Ana buys 2 more. How many pens now?"
                                      for i in range(len(ids))],
                         "response": [f"{i} + 2 = {i + 2}\nAnswer: {i + 2}" for i in range(len(ids))]})


def test_every_corpus_trains_on_the_same_problems_and_a_small_corpus_fails_clearly():
    corpora = {"native": corpus("native", ["a", "b", "c", "d"]),
               "style_aligned": corpus("style_aligned", ["b", "c", "d"])}
    chosen = training_problems(corpora, 3, seed=0)
    assert sorted(chosen) == ["b", "c", "d"] and chosen == training_problems(corpora, 3, seed=0)
    with pytest.raises(BudgetError, match="train.examples is 4, but only 3 problems .*native 4, style_aligned 3"):
        training_problems(corpora, 4, seed=0)
    assert len(training_problems(corpora, None, seed=0)) == 3


def test_the_dft_loss_equals_a_hand_computation(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    data = sft_dataset(corpus("native", ["a", "b"]), ["a", "b"], load_prompt("toy_solve"))
    params = TrainParams(objective="dft", batch_size=2, device="cpu")
    trainer = SFTTrainer(model=model, args=sft_config(params, tmp_path, seed=0), train_dataset=data,
                         processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch).item()
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    by_hand = (-(logp * logp.exp())[keep]).sum() / keep.sum()
    assert loss == pytest.approx(by_hand.item(), rel=1e-4)
    # the prompt is not learned: only the completion's tokens carry labels
    first = batch["input_ids"][0][batch["attention_mask"][0].bool()]
    prompt_len = len(tokenizer.apply_chat_template(data[0]["prompt"], tokenize=True, add_generation_prompt=True,
                                                   return_dict=True)["input_ids"])
    assert (batch["labels"][0][:prompt_len] == -100).all() and (batch["labels"][0][prompt_len:len(first)] != -100).all()


@pytest.fixture
def training_world(tmp_path, tiny_model_dir):
    shutil.copytree(tiny_model_dir, tmp_path / "data/models/slm")
    (tmp_path / "data/models/manifest.json").write_text(json.dumps(
        {"models": [{"role": "slm", "id": "toy", "revision": "r1", "path": "data/models/slm", "dtype": "float32"}]}))
    (tmp_path / "data/corpora").mkdir(parents=True)
    ids = [f"p{i}" for i in range(8)]
    corpus("native", ids).write_parquet(tmp_path / "data/corpora/native.parquet")
    corpus("style_aligned", ids[:6]).write_parquet(tmp_path / "data/corpora/style_aligned.parquet")
    (tmp_path / "params.yaml").write_text(
        "seed: 0\ncorpora: {native: {kind: native}, style_aligned: {kind: oracle, prompt: style_aligned}}\n"
        "train: {examples: 6, batch_size: 2, epochs: 2, save_steps: 2, device: cpu, threads: 1, seeds: [0]}\n")
    return tmp_path


def _run(cmd, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
def test_a_corpus_trains_to_a_lora_adapter_with_curves_and_a_rerun_resumes(training_world):
    _run([sys.executable, "-m", "stages.train", "native"], training_world)
    checkpoint = training_world / "data/checkpoints/native/seed-0"
    assert (checkpoint / "adapter_config.json").exists() and (checkpoint / "tokenizer_config.json").exists()
    targets = json.loads((checkpoint / "adapter_config.json").read_text())["target_modules"]
    assert len(targets) == 7 and targets == sorted(targets)  # the same bytes whatever the process's string hashing
    metrics = json.loads((training_world / "metrics/train/native.json").read_text())
    assert metrics["steps"] == 6 and metrics["examples"] == 6 and metrics["method"] == "lora"
    assert (training_world / "dvclive/train/native/seed-0/plots/metrics/train/loss.tsv").exists()
    _run([sys.executable, "-m", "stages.train", "native"], training_world)  # again: every step is in the cache
    again = json.loads((training_world / "metrics/train/native.json").read_text())
    assert again["per_seed"]["0"]["resumed_from"] and again["steps"] == 6
    assert again["train_loss"] == pytest.approx(metrics["train_loss"]) and again["train_loss"] > 0


@pytest.mark.slow
def test_two_cpu_processes_train_and_save_through_accelerate(training_world):
    # --multi_gpu picks accelerate's torchrun launcher; train.device cpu makes the processes talk over gloo
    out = _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "-m", "stages.train", "style_aligned"], training_world)
    metrics = json.loads((training_world / "metrics/train/style_aligned.json").read_text())
    assert metrics["processes"] == 2, out[-2000:]
    assert metrics["steps"] == 4  # 6 problems, 2 per process and step: 2 steps an epoch, 2 epochs
    assert (training_world / "data/checkpoints/style_aligned/seed-0/adapter_model.safetensors").exists()
