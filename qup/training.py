"""A checkpoint per corpus: TRL's SFTTrainer on prompt-completion data, LoRA through PEFT or full.

The prompt is the SLM's own solve prompt; the loss covers the completion only, tokenized by
``qup.chat.supervised_ids`` as the engines generate it and the NLL scores it (TRL is handed the
ids and labels). ``objective`` ``sft`` is plain cross-entropy; ``dft`` is Dynamic
Fine-Tuning, each token's cross-entropy weighted by its detached probability (TRL's
``loss_type="dft"``); ``cadft`` is DFT with each sample's token losses weighted by its compatibility with the
model (``qup.objectives``, on the trainer's ``compute_loss_func``). Every corpus trains on the same problems with
the same steps, batch, learning rate and seed. Training curves go to dvclive; checkpoints let a crashed run resume.
A run of several objectives (``train.objectives``) trains each as a run of it alone would: same seeds, same data
order, its own run folder (``TrainParams.for_objective``).

The global batch (``global_batch_size``) is the same whatever the number of processes: each process takes
``batch_size`` examples a forward pass and accumulates gradients over ``global_batch_size / (batch_size ×
processes)`` of them. ``dtype`` picks the weights and autocast (bf16 on a GPU that has it, float32 on a CPU).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

import polars as pl

from qup.chat import supervised_ids
from qup.config import TrainParams
from qup.numerics import slow_bfloat16_warning
from qup.prompts import Prompt


class BudgetError(ValueError):
    """A corpus cannot fill the training budget every corpus gets."""


def training_problems(corpora: dict[str, pl.DataFrame], examples: int | None, seed: int) -> list[str]:
    """The problems every corpus trains on: those all corpora cover, ``examples`` of them in a seeded order."""
    common = set.intersection(*(set(frame["problem_id"]) for frame in corpora.values()))
    if examples is not None and len(common) < examples:
        sizes = ", ".join(f"{name} {frame.height}" for name, frame in corpora.items())
        raise BudgetError(
            f"train.examples is {examples}, but only {len(common)} problems have a trace in every corpus "
            f"({sizes}); lower train.examples or set it to null to train on all {len(common)}")
    chosen = sorted(common)
    random.Random(seed).shuffle(chosen)
    return chosen[:examples] if examples is not None else chosen


def sft_dataset(corpus: pl.DataFrame, problem_ids: list[str], prompt: Prompt):
    """Conversational prompt-completion rows, in ``problem_ids`` order."""
    from datasets import Dataset

    by_id = {r["problem_id"]: r for r in corpus.select("problem_id", "question", "response").iter_rows(named=True)}
    missing = [p for p in problem_ids if p not in by_id]
    if missing:
        raise BudgetError(f"the corpus has no trace for {len(missing)} of the training problems, e.g. {missing[0]}")
    return Dataset.from_list([
        {"prompt": [{"role": "user", "content": prompt.render(question=by_id[p]["question"])}],
         "completion": [{"role": "assistant", "content": by_id[p]["response"]}]}
        for p in problem_ids])


def tokenized(dataset, tokenizer):
    """Each prompt-completion row as ``input_ids`` and ``labels`` (-100 on the prompt), through the chat module.

    TRL would tokenize prompt + completion as one text, so a completion starting with "\\n\\n" or two
    spaces merges with ChatML's "assistant\\n" and trains on a prompt the model never sees; it would also
    put the loss on the "\\n" ChatML renders after <|im_end|>, which the model never generates.
    """
    def encode(row: dict) -> dict:
        ids, labels = supervised_ids(tokenizer, row["prompt"], row["completion"][0]["content"])
        return {"input_ids": ids, "labels": labels}

    return dataset.map(encode, remove_columns=dataset.column_names)


def world_size() -> int:
    """The number of training processes (torchrun's ``WORLD_SIZE``; 1 outside a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def train_device(params: TrainParams) -> str:
    import torch

    return params.device or ("cuda" if torch.cuda.is_available() else "cpu")


def precision(params: TrainParams, device: str) -> str:
    """``bf16``, ``fp16`` or ``fp32``: train.dtype, ``auto`` resolved for ``device``."""
    import torch

    chosen = params.dtype
    if chosen == "auto":
        chosen = "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if chosen == "fp16" and device != "cuda":
        raise ValueError(f"train.dtype fp16 needs a GPU (train.device is {device}): use bf16 or fp32")
    if params.attn_implementation == "flash_attention_2" and chosen == "fp32":
        raise ValueError(f"train.attn_implementation flash_attention_2 needs train.dtype bf16 or fp16 "
                         f"(train.dtype {params.dtype} is fp32 on {device})")
    if chosen == "bf16" and device == "cpu" and (slow := slow_bfloat16_warning("train.dtype bf16")):
        print(slow, file=sys.stderr)
    return chosen


def load_kwargs(params: TrainParams, dtype: str) -> dict:
    """``from_pretrained`` arguments: bfloat16 weights for bf16, float32 otherwise (fp16 autocasts from them, as
    loss scaling cannot unscale float16 gradients); the attention implementation when one is asked for."""
    import torch

    kwargs = {"dtype": torch.bfloat16 if dtype == "bf16" else torch.float32}
    if params.attn_implementation:
        kwargs["attn_implementation"] = params.attn_implementation
    return kwargs


def one_objective(params: TrainParams) -> TrainParams:
    """``params`` when they train one objective (``TrainParams.for_objective``'s); else an error."""
    if len(params.run_objectives) != 1:
        raise ValueError(f"one run trains one objective, not {params.run_objectives}: pass "
                         "params.for_objective(objective)")
    return params


def run_key(params: TrainParams, seed: int, base_revision: str, data: str) -> str:
    """Names one seed's run folder of one objective, so that a crashed run resumes only into the run it was: the
    same folder whether the objective trains alone or beside others (``objectives`` is not part of the key)."""
    # cadft_beta only names a cadft run: an sft or dft run keeps its folder (and resumes into it) whatever it is
    ignored = {"seeds", "objectives"} | ({"cadft_beta"} if one_objective(params).objective != "cadft" else set())
    settings = params.model_dump(exclude=ignored)
    blob = json.dumps([settings, seed, base_revision, data], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def sft_config(params: TrainParams, output_dir: Path, seed: int, dtype: str | None = None):
    """TRL's arguments for one run: the global batch over ``world_size()`` processes, ``dtype``'s autocast
    (None: ``precision`` of the params)."""
    from trl import SFTConfig

    dtype = dtype or precision(params, train_device(params))
    return SFTConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=params.batch_size,
        gradient_accumulation_steps=params.gradient_accumulation(world_size()),
        learning_rate=params.learning_rate,
        num_train_epochs=params.epochs,
        lr_scheduler_type=params.scheduler,
        warmup_steps=params.warmup_steps,
        weight_decay=0.0,
        loss_type="dft" if params.objective == "dft" else "nll",  # cadft: TRL's loss replaced by loss_function's
        max_length=params.max_length,
        bf16=dtype == "bf16",  # TRL's default is True; fp32 on a CPU: faster for tiny models, and exact
        fp16=dtype == "fp16",
        activation_checkpointing=params.gradient_checkpointing,
        use_cpu=params.device == "cpu",
        seed=seed,
        data_seed=seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=params.save_steps,
        save_total_limit=1,
        report_to="none",
        disable_tqdm=not sys.stderr.isatty(),  # in a log: LogProgressCallback's lines instead of redraws
        dataloader_num_workers=0,
        ddp_backend="gloo" if train_device(params) == "cpu" and world_size() > 1 else None,
    )


def loss_function(params: TrainParams):
    """The trainer's ``compute_loss_func`` for ``params.objective``: CADFT's loss for ``cadft``, None (TRL's own
    ``loss_type``) for ``sft`` and ``dft``. TRL hands it the model's full logits and runs a second forward pass,
    without gradient, for its metrics: a cadft step costs about a third more than a dft one."""
    if params.objective != "cadft":
        return None
    from qup.objectives import cadft_loss

    beta = params.cadft_beta
    return lambda outputs, labels, num_items_in_batch=None: cadft_loss(outputs.logits, labels, beta,
                                                                       num_items_in_batch)


def log_progress_callback():
    """A trainer callback that, in place of tqdm's redraws, writes a line to stderr every ``LOG_INTERVAL``
    seconds (and at the end): step, total, loss."""
    from transformers import TrainerCallback

    from qup.progress import LOG_INTERVAL

    class LogProgressCallback(TrainerCallback):
        def __init__(self):
            self.started = self.last = time.monotonic()
            self.loss = None

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.loss = logs["loss"]

        def on_step_end(self, args, state, control, **kwargs):
            now = time.monotonic()
            if now - self.last >= LOG_INTERVAL or state.global_step == state.max_steps:
                self.last = now
                loss = "" if self.loss is None else f", loss {self.loss:.4f}"
                print(f"train: step {state.global_step}/{state.max_steps}{loss}, {now - self.started:.0f}s",
                      file=sys.stderr, flush=True)

    return LogProgressCallback()


def write_curves(live_dir: Path, args, log_history: list[dict]) -> None:
    """dvclive's folder for one run, as transformers' ``DVCLiveCallback`` writes it live, from the trainer's
    whole log history: a resumed run's curves then hold the steps before the crash too, though DVC removed
    the folder (a stage's output) before the rerun."""
    from dvclive.plots import Metric
    from dvclive.utils import standardize_metric_name

    from dvclive import Live

    shutil.rmtree(live_dir, ignore_errors=True)
    live = Live(str(live_dir), dvcyaml=None, save_dvc_exp=False)
    live.log_params(args.to_dict())
    for entry in log_history:
        for key, value in entry.items():
            if key != "step" and Metric.could_log(value):
                live.log_metric(standardize_metric_name(key, "dvclive.huggingface"), value)
        live.next_step()
    live.end()


def lora_config(params: TrainParams):
    from peft import LoraConfig

    return LoraConfig(r=params.lora_r, lora_alpha=params.lora_alpha, lora_dropout=params.lora_dropout,
                      target_modules=params.lora_targets, task_type="CAUSAL_LM")


def _sort_target_modules(config_path: Path) -> None:
    """PEFT writes the target modules that ``all-linear`` resolves to in set order, which changes with
    Python's string hashing from one process to the next; sorted, the checkpoint's content hash holds."""
    if not config_path.exists():
        return
    config = json.loads(config_path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def last_checkpoint(work_dir: Path) -> str | None:
    """The newest checkpoint in ``work_dir`` that the trainer finished writing (its state file comes last);
    one a crash cut short is removed, as the trainer would resume from its partial state."""
    complete = []
    for folder in work_dir.glob("checkpoint-*"):
        if (folder / "trainer_state.json").exists():
            complete.append(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return str(max(complete, key=lambda f: int(f.name.rsplit("-", 1)[1]))) if complete else None


def resume_token_count(trainer, checkpoint: str | None) -> None:
    """TRL counts the tokens trained on (its ``num_tokens`` curve) from 0 in each process; a resumed run
    counts on from the checkpoint's count."""
    if checkpoint is None:
        return
    history = json.loads((Path(checkpoint) / "trainer_state.json").read_text())["log_history"]
    counts = [entry["num_tokens"] for entry in history if "num_tokens" in entry]
    if counts:
        trainer._total_train_tokens = int(counts[-1])


def train_checkpoint(base_path: str, dataset, out_dir: Path, params: TrainParams, *, seed: int, work_dir: Path,
                     live_dir: Path) -> dict:
    """Fine-tune the model at ``base_path`` on ``dataset`` with the one objective of ``params``; save the adapter
    (LoRA) or the model (full) with its tokenizer to ``out_dir`` and its curves to ``live_dir``. Resumes from the
    newest checkpoint in ``work_dir``; a finished run resumes from its last one and trains no step."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    one_objective(params)
    if params.threads:
        torch.set_num_threads(params.threads)
    dtype = precision(params, train_device(params))
    work_dir.mkdir(parents=True, exist_ok=True)
    # the arguments before the model: under DeepSpeed ZeRO-3 they make from_pretrained load it partitioned
    config = sft_config(params, work_dir, seed, dtype)
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForCausalLM.from_pretrained(base_path, **load_kwargs(params, dtype))
    main_process = int(os.environ.get("RANK", "0")) == 0
    callbacks = [log_progress_callback()] if main_process and config.disable_tqdm else []
    trainer = SFTTrainer(model=model, args=config, train_dataset=tokenized(dataset, tokenizer),
                         processing_class=tokenizer, callbacks=callbacks, compute_loss_func=loss_function(params),
                         peft_config=lora_config(params) if params.method == "lora" else None)
    if config.disable_tqdm:  # the printer would write every log dict (each step) to the log
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    last = last_checkpoint(work_dir)
    resume_token_count(trainer, last)
    result = trainer.train(resume_from_checkpoint=last)
    if trainer.is_world_process_zero():
        staging = out_dir.with_name(f".{out_dir.name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        trainer.save_model(str(staging))
        _sort_target_modules(staging / "adapter_config.json")
        tokenizer.save_pretrained(staging)
        shutil.rmtree(out_dir, ignore_errors=True)
        staging.rename(out_dir)
    # the mean logged loss of every step, those before a resume included (the trainer's own figure covers only
    # the steps this process ran: 0.0 when it resumed from a finished run; unbroken, the two are equal)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    train_loss = sum(losses) / len(losses) if losses else result.training_loss
    if trainer.is_world_process_zero():
        history = [{**e, "train_loss": train_loss} if "train_loss" in e else e for e in trainer.state.log_history]
        # one process writes the curves: several writing one dvclive folder race on its files
        write_curves(live_dir, config, history)
    return {"train_loss": train_loss, "dtype": dtype,
            "steps": result.global_step, "resumed_from": last,
            "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
            "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)}
