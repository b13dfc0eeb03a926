"""Train the toy world's tiny Llama SLM from scratch, resumably.

Each batch is drawn afresh from the toy world (seeded by step, so a resumed run sees the same
data): native-style solutions, a share of them with an injected mistake, and a small share of
Oracle-style text (its format, with only some of the Oracle's own phrasings) so that the Oracle's
style is familiar to the SLM in kind but not in its words, and never native to it. The loss
covers the assistant's tokens only, through the chat template's generation mask.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from qup.chat import pad_batch, supervised_ids
from qup.config import ToyParams, ToySLMParams
from qup.progress import progress as progress_bar
from qup.records import atomic_write
from qup.toy.styles import inject_mistake, render_native, render_oracle, slm_phrasebook
from qup.toy.world import draw_unseen_problem

PROMPT_STREAM_OFFSET = 7_919  # keeps the SLM's training stream apart from the problems stage's
BUCKET_STEPS = 8  # batches drawn together and grouped by length, to waste less on padding


@dataclass(frozen=True)
class TrainingText:
    question: str
    solution: str


def draw_example(rng: random.Random, toy: ToyParams, exclude: set[str]) -> TrainingText:
    """One training conversation, never one of the ``exclude``d questions."""
    problem = draw_unseen_problem(rng, toy, exclude, "pretrain")
    if rng.random() < toy.oracle_share:
        phrasebook = slm_phrasebook(toy.oracle_phrases_seen)
        return TrainingText(problem.question, render_oracle(problem, phrasebook=phrasebook))
    steps = problem.steps
    if rng.random() < toy.mistake_rate:
        steps, _ = inject_mistake(problem, rng, toy.mistake_kinds)
    return TrainingText(problem.question, render_native(problem, rng, steps))


def encode_example(tokenizer: PreTrainedTokenizerBase, example: TrainingText,
                   loss_on_prompt: bool = False) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 outside the assistant's turn unless ``loss_on_prompt``)."""
    return supervised_ids(tokenizer, [{"role": "user", "content": example.question}], example.solution,
                          loss_on_prompt=loss_on_prompt)


def curriculum(step: int, params: ToySLMParams, toy: ToyParams) -> ToyParams:
    """The world at ``step``: problems get their longest only after ``curriculum_fraction`` of
    training, so the tiny model learns to copy operands on short problems first."""
    if params.curriculum_fraction == 0:
        return toy
    span = toy.max_steps - toy.min_steps + 1
    progress = step / (params.curriculum_fraction * params.train_steps)
    return toy.model_copy(update={"max_steps": min(toy.max_steps, toy.min_steps + int(progress * span))})


def batch_examples(step: int, seed: int, params: ToySLMParams, toy: ToyParams,
                   exclude: set[str]) -> list[TrainingText]:
    """The examples of ``step``: a block of steps is drawn at once and grouped by length."""
    block = step // BUCKET_STEPS
    toy = curriculum(block * BUCKET_STEPS, params, toy)
    rng = random.Random(f"{seed}:{PROMPT_STREAM_OFFSET}:{block}")
    pool = [draw_example(rng, toy, exclude) for _ in range(BUCKET_STEPS * params.batch_size)]
    pool.sort(key=lambda e: len(e.question) + len(e.solution))
    batches = [pool[i:i + params.batch_size] for i in range(0, len(pool), params.batch_size)]
    rng.shuffle(batches)
    return batches[step % BUCKET_STEPS]


def make_batch(tokenizer, examples: list[TrainingText], loss_on_prompt: bool = False) -> dict[str, torch.Tensor]:
    encoded = [encode_example(tokenizer, e, loss_on_prompt) for e in examples]
    input_ids, attention = pad_batch([ids for ids, _ in encoded], tokenizer.pad_token_id)
    labels, _ = pad_batch([labels for _, labels in encoded], -100)
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


def build_model(tokenizer, params: ToySLMParams, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=params.hidden_size,
        intermediate_size=params.intermediate_size,
        num_hidden_layers=params.num_layers,
        num_attention_heads=params.num_heads,
        num_key_value_heads=params.num_heads,
        head_dim=params.head_dim or params.hidden_size // params.num_heads,
        max_position_embeddings=params.max_positions,
        initializer_range=params.init_std,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def learning_rate(step: int, params: ToySLMParams) -> float:
    """Linear warm-up, then cosine decay to ``final_lr_fraction`` of the peak."""
    if step < params.warmup_steps:
        return params.learning_rate * (step + 1) / params.warmup_steps
    progress = (step - params.warmup_steps) / max(1, params.train_steps - params.warmup_steps)
    floor = params.final_lr_fraction
    return params.learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _save_checkpoint(directory: Path, model, optimizer, step: int) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}
    atomic_write(directory / "state.pt", lambda tmp: torch.save(state, tmp))


def train_slm(tokenizer, params: ToySLMParams, toy: ToyParams, *, seed: int, exclude: set[str],
              checkpoint_dir: Path | None = None, progress: bool = True) -> tuple[LlamaForCausalLM, dict]:
    """Train (or resume training) the SLM; returns it with a summary of the run."""
    torch.set_num_threads(params.threads)
    model = build_model(tokenizer, params, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=0.01,
                                  betas=(0.9, 0.95))
    first_step = 0
    if checkpoint_dir is not None and (checkpoint_dir / "state.pt").exists():
        state = torch.load(checkpoint_dir / "state.pt", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_step = state["step"]
    model.train()
    started = time.perf_counter()
    losses: list[float] = []
    bar = progress_bar(range(first_step, params.train_steps), desc="train slm", unit="step", disable=not progress,
                       initial=first_step, total=params.train_steps)
    for step in bar:
        batch = make_batch(tokenizer, batch_examples(step, seed, params, toy, exclude), params.loss_on_prompt)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, params)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
        if checkpoint_dir is not None and (step + 1) % params.checkpoint_every == 0 and step + 1 < params.train_steps:
            _save_checkpoint(checkpoint_dir, model, optimizer, step + 1)
    bar.close()
    model.eval()
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    summary = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_steps": params.train_steps,
        "resumed_from_step": first_step,
        "final_loss": sum(losses[-50:]) / max(1, len(losses[-50:])),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return model, summary
