"""Training a checkpoint per corpus: DFT's loss, equal budgets, resumable runs and a 2-process `dvc repro`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml

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
    write_params(tmp_path)
    return tmp_path


def write_params(root, **train):
    # a global batch of 2, one example a forward pass: gradients accumulate over 2 forward passes in 1 process
    train = {"examples": 6, "batch_size": 1, "global_batch_size": 2, "epochs": 2, "save_steps": 2, "device": "cpu",
             "threads": 1, "seeds": [0], **train}
    corpora = {"native": {"kind": "native"}, "style_aligned": {"kind": "oracle", "prompt": "style_aligned"}}
    (root / "params.yaml").write_text(yaml.safe_dump(
        {"seed": 0, "corpora": corpora, "native": {"prompt": "toy_solve"}, "train": train}))


def _run(cmd, cwd):
    # the venv first on PATH: dvc.yaml's commands run `python`
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
def test_a_corpus_trains_to_a_lora_adapter_with_curves_and_a_rerun_resumes(training_world):
    _run([sys.executable, "-m", "stages.train", "native"], training_world)
    checkpoint = training_world / "data/checkpoints/native/sft/seed-0"
    assert (checkpoint / "adapter_config.json").exists() and (checkpoint / "tokenizer_config.json").exists()
    targets = json.loads((checkpoint / "adapter_config.json").read_text())["target_modules"]
    assert len(targets) == 7 and targets == sorted(targets)  # the same bytes whatever the process's string hashing
    metrics = json.loads((training_world / "metrics/train/native.json").read_text())
    assert metrics["steps"] == 6 and metrics["examples"] == 6 and metrics["method"] == "lora"
    assert (training_world / "dvclive/train/native/sft/seed-0/plots/metrics/train/loss.tsv").exists()
    _run([sys.executable, "-m", "stages.train", "native"], training_world)  # again: every step is in the cache
    again = json.loads((training_world / "metrics/train/native.json").read_text())
    assert again["per_seed"]["0"]["resumed_from"] and again["steps"] == 6
    assert again["train_loss"] == pytest.approx(metrics["train_loss"]) and again["train_loss"] > 0


@pytest.fixture
def train_project(training_world):
    """The training world as a DVC project of its own: dvc.yaml's real train@ stages, the code they depend on."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    (training_world / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": stages["train"]}}))
    for package in ("qup", "stages"):
        shutil.copytree(REPO / package, training_world / package, ignore=shutil.ignore_patterns("__pycache__"))
    _run([Path(sys.executable).parent / "dvc", "init", "--no-scm", "-q"], training_world)
    return training_world


@pytest.mark.slow
def test_dvc_repro_trains_on_two_cpu_processes_with_the_global_batch_and_steps_of_one(train_project):
    dvc = Path(sys.executable).parent / "dvc"
    metrics_file = train_project / "metrics/train/style_aligned.json"
    _run([dvc, "repro", "train@style_aligned"], train_project)
    one = json.loads(metrics_file.read_text())
    write_params(train_project, launcher={"name": "accelerate", "processes": 2})
    out = _run([dvc, "repro", "train@style_aligned"], train_project)  # the params changed: dvc reruns the stage
    two = json.loads(metrics_file.read_text())
    assert "2 process(es) under accelerate" in out and two["processes"] == 2, out[-2000:]
    assert (one["processes"], one["gradient_accumulation"], two["gradient_accumulation"]) == (1, 2, 1)
    assert one["global_batch_size"] == two["global_batch_size"] == 2 and one["batch_size"] == two["batch_size"] == 1
    assert one["steps"] == two["steps"] == 6  # 6 problems, 2 an optimiser step: 3 steps an epoch, 2 epochs
    # each step the same two examples, one a process: the same losses as one process accumulating over both
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)
    assert (train_project / "data/checkpoints/style_aligned/sft/seed-0/adapter_model.safetensors").exists()


def test_the_global_batch_stays_whatever_the_process_count_and_accumulation_makes_it_up():
    params = TrainParams(batch_size=16, global_batch_size=256)
    assert [params.gradient_accumulation(n) for n in (1, 2, 8, 16)] == [16, 8, 2, 1]
    assert TrainParams().gradient_accumulation(1) == 1 and TrainParams().global_batch == 16  # the embedded run
    with pytest.raises(ValueError, match=r"train.global_batch_size 256 does not split into whole accumulation steps "
                                         r"of train.batch_size 16 × 3 processes = 48 examples: set "
                                         r"train.global_batch_size to a multiple of 48"):
        params.gradient_accumulation(3)


def test_params_that_cannot_keep_the_global_batch_fail_when_read():
    with pytest.raises(ValueError, match=r"train.global_batch_size 16 \(null: batch_size\) does not split .* "
                                         r"16 × 2 processes = 32 examples: set train.batch_size to 8 or "
                                         r"train.global_batch_size to a multiple of 32"):
        TrainParams(launcher={"name": "accelerate", "processes": 2})
    with pytest.raises(ValueError, match="train.gradient_accumulation is derived now: set train.global_batch_size"):
        TrainParams(gradient_accumulation=16)


def test_the_default_trains_as_before_in_float32_without_checkpointing(tmp_path, monkeypatch):
    from qup.training import load_kwargs, precision

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = sft_config(TrainParams(device="cpu"), tmp_path, seed=0)
    # TRL's own defaults are bf16 and gradient checkpointing: the toy run trains in exact float32 arithmetic
    assert (config.bf16, config.fp16, config.activation_checkpointing) == (False, False, False)
    assert (config.per_device_train_batch_size, config.gradient_accumulation_steps) == (16, 1)
    assert precision(TrainParams(), "cpu") == "fp32" and load_kwargs(TrainParams(), "fp32") == {"dtype": torch.float32}


def test_bf16_checkpointing_and_accumulation_reach_trl(tmp_path, monkeypatch):
    from qup.training import load_kwargs, precision

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    params = TrainParams(dtype="auto", gradient_checkpointing=True, attn_implementation="sdpa", batch_size=2,
                         global_batch_size=8, device="cpu")
    assert precision(params, "cuda") == "bf16" and precision(params, "cpu") == "fp32"
    assert load_kwargs(params, "bf16") == {"dtype": torch.bfloat16, "attn_implementation": "sdpa"}
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = sft_config(params, tmp_path, seed=0, dtype="bf16")
    assert (config.bf16, config.activation_checkpointing, config.gradient_accumulation_steps) == (True, True, 4)


def test_a_dtype_the_device_cannot_train_in_fails_clearly():
    from qup.training import precision

    with pytest.raises(ValueError, match="train.dtype fp16 needs a GPU"):
        precision(TrainParams(dtype="fp16"), "cpu")
    with pytest.raises(ValueError, match="flash_attention_2 needs train.dtype bf16 or fp16"):
        precision(TrainParams(attn_implementation="flash_attention_2"), "cpu")


def test_each_objective_trains_in_a_run_folder_of_its_own_the_one_a_run_of_it_alone_resumes():
    from qup import paths
    from qup.training import run_key

    both = TrainParams(objectives=["sft", "dft"])
    keys = {o: run_key(both.for_objective(o), 0, "r1", "data") for o in both.run_objectives}
    assert keys["sft"] != keys["dft"]
    assert keys == {o: run_key(TrainParams(objective=o), 0, "r1", "data") for o in ("sft", "dft")}
    with pytest.raises(ValueError, match=r"one run trains one objective, not \['sft', 'dft'\]"):
        run_key(both, 0, "r1", "data")
    assert paths.checkpoint("native", 2, "dft") == Path("data/checkpoints/native/dft/seed-2")
    assert paths.checkpoint("native", 0, "sft").parent.parent == paths.checkpoints("native")  # the DVC out
    assert paths.training_curves("native", "dft", 1) == Path("dvclive/train/native/dft/seed-1")
    assert paths.training_curves("native", "dft").parent == paths.training_curves("native")


def evaluate_every_checkpoint(root):
    """evaluate@native on the two-objective run's checkpoints: each objective's rows, named, and its figures."""
    from qup.config import load_params
    from stages.evaluate import main

    pl.DataFrame({"id": ["t0", "t1"], "question": ["Ana has 1 pens. Ana buys 2 more. How many pens now?"] * 2,
                  "answer": ["3", "3"]}).write_parquet(root / "data/problems/test.parquet", mkdir=True)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["evaluate"] = {"k": 2, "max_new_tokens": 4, "benchmarks": []}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    main(load_params("params.yaml"), "native")
    results = pl.read_parquet("data/eval/native.parquet")
    assert results["objective"].to_list() == ["dft", "dft", "sft", "sft"] and results["seed"].unique().to_list() == [0]
    metrics = json.loads(Path("metrics/eval/native.json").read_text())
    assert metrics["objective"] == "dft" and list(metrics["per_objective"]) == ["dft", "sft"]
    assert metrics["avg_at_k"] == metrics["per_objective"]["dft"]["avg_at_k"] and metrics["n_test"] == 2
    assert metrics["per_objective"]["sft"]["n_test"] == 2 and metrics["seeds"] == [0]


@pytest.mark.slow
def test_a_run_of_two_objectives_trains_each_as_a_run_of_it_alone(training_world, monkeypatch):
    from qup.config import load_params
    from stages.train import main

    monkeypatch.chdir(training_world)
    small = {"examples": 2, "batch_size": 2, "global_batch_size": 2, "epochs": 2, "save_steps": 10}
    write_params(training_world, objectives=["dft", "sft"], **small)  # sft second: trained after dft in-process
    main(load_params("params.yaml"), "native")
    metrics = json.loads(Path("metrics/train/native.json").read_text())
    assert metrics["objective"] == "dft" and list(metrics["per_objective"]) == ["dft", "sft"]
    assert {k: metrics[k] for k in ("steps", "train_loss", "per_seed")} == metrics["per_objective"]["dft"]
    assert metrics["per_objective"]["sft"]["steps"] == 2 and metrics["per_objective"]["sft"]["train_loss"] > 0
    adapters = {o: Path(f"data/checkpoints/native/{o}/seed-0/adapter_model.safetensors").read_bytes()
                for o in ("dft", "sft")}
    assert adapters["dft"] != adapters["sft"]
    assert all(Path(f"dvclive/train/native/{o}/seed-0/metrics.json").exists() for o in ("dft", "sft"))
    work_dirs = sorted(p.name for p in Path(".qup-cache/train").iterdir())
    assert len(work_dirs) == 2
    evaluate_every_checkpoint(training_world)
    shutil.rmtree(".qup-cache")
    shutil.rmtree("data/checkpoints")
    write_params(training_world, objective="sft", **small)
    main(load_params("params.yaml"), "native")
    alone = json.loads(Path("metrics/train/native.json").read_text())
    assert not alone["per_seed"]["0"]["resumed_from"]  # trained afresh, not resumed from the run above
    assert Path("data/checkpoints/native/sft/seed-0/adapter_model.safetensors").read_bytes() == adapters["sft"]
    assert alone["train_loss"] == metrics["per_objective"]["sft"]["train_loss"]
    assert [p.name for p in Path(".qup-cache/train").iterdir()][0] in work_dirs  # the same run folder
