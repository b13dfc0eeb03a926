"""Train the toy world's reward model: a tiny Llama sequence classifier over (question, solution).

It learns from solutions in all three styles (native, Oracle, textbook), half of them with an
injected mistake. A wrong solution's target is 0; a right one's is its style's entry in
``style_targets``. Those targets stand for what human-preference data teaches real reward
models: polished, explained solutions score above terse ones that are just as right. The study
measures whether that perceived quality predicts what a corpus teaches; this model is its toy
stand-in, saved and loaded exactly like a hub reward model.
"""

from __future__ import annotations

import random
import time

import torch
from transformers import LlamaConfig, LlamaForSequenceClassification

from qup.chat import conversation_ids, pad_batch
from qup.config import ToyParams, ToyRMParams
from qup.progress import progress as progress_bar
from qup.toy.styles import inject_mistake, render_native, render_oracle, render_textbook
from qup.toy.world import draw_unseen_problem

RM_STREAM_OFFSET = 104_729  # keeps the reward model's stream apart from the SLM's
STYLES = ("native", "oracle", "textbook")


def draw_rm_example(rng: random.Random, toy: ToyParams, params: ToyRMParams,
                    exclude: set[str]) -> tuple[str, str, str, bool, float]:
    """(question, solution, style, correct, target) for one training or held-out example."""
    problem = draw_unseen_problem(rng, toy, exclude, "rm")
    style = rng.choice(STYLES)
    correct = rng.random() >= params.wrong_share
    steps = problem.steps if correct else inject_mistake(problem, rng, ["arithmetic", "operand"])[0]
    text = {"native": lambda: render_native(problem, rng, steps), "oracle": lambda: render_oracle(problem, steps),
            "textbook": lambda: render_textbook(problem, steps)}[style]()
    target = params.style_targets[style] if correct else 0.0
    return problem.question, text, style, correct, target


def _batch(tokenizer, examples) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (question, solution) conversations and their attention mask."""
    return pad_batch([conversation_ids(tokenizer, [{"role": "user", "content": q}], s) for q, s, *_ in examples],
                     tokenizer.pad_token_id)


def build_reward_model(tokenizer, params: ToyRMParams, seed: int) -> LlamaForSequenceClassification:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=params.hidden_size,
                         intermediate_size=params.intermediate_size, num_hidden_layers=params.num_layers,
                         num_attention_heads=params.num_heads, num_key_value_heads=params.num_heads,
                         head_dim=params.hidden_size // params.num_heads, max_position_embeddings=1024,
                         num_labels=1, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    return LlamaForSequenceClassification(config)


def train_reward_model(tokenizer, params: ToyRMParams, toy: ToyParams, *, seed: int, exclude: set[str],
                       progress: bool = True) -> tuple[LlamaForSequenceClassification, dict]:
    """Train the reward model; returns it with held-out figures (accuracy, mean score per style)."""
    torch.set_num_threads(params.threads)
    model = build_reward_model(tokenizer, params, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.learning_rate,
                                                   total_steps=params.train_steps, pct_start=0.1)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = random.Random(f"{seed}:{RM_STREAM_OFFSET}")
    started = time.perf_counter()
    model.train()
    for _ in progress_bar(range(params.train_steps), desc="train reward model", unit="step", disable=not progress):
        examples = sorted((draw_rm_example(rng, toy, params, exclude) for _ in range(params.batch_size)),
                          key=lambda e: len(e[1]))
        ids, mask = _batch(tokenizer, examples)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, 0]
        loss = loss_fn(logits, torch.tensor([e[4] for e in examples]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
    seconds = time.perf_counter() - started
    return model, {**held_out_figures(model, tokenizer, params, toy, seed, exclude),
                   "rm_train_seconds": round(seconds, 1),
                   "rm_parameters": sum(p.numel() for p in model.parameters())}


@torch.inference_mode()
def held_out_figures(model, tokenizer, params: ToyRMParams, toy: ToyParams, seed: int, exclude: set[str],
                     n: int = 300) -> dict:
    """On fresh examples: how often a right solution outscores a wrong one, and mean score by style."""
    rng = random.Random(f"{seed}:{RM_STREAM_OFFSET}:held-out")
    examples = [draw_rm_example(rng, toy, params, exclude) for _ in range(n)]
    scores = []
    for begin in range(0, n, 32):
        ids, mask = _batch(tokenizer, examples[begin:begin + 32])
        scores += model(input_ids=ids, attention_mask=mask).logits[:, 0].tolist()
    right = [s for s, e in zip(scores, examples) if e[3]]
    wrong = [s for s, e in zip(scores, examples) if not e[3]]
    pairs = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    figures = {"rm_right_over_wrong": pairs / max(1, len(right) * len(wrong))}
    for style in STYLES:
        chosen = [s for s, e in zip(scores, examples) if e[3] and e[2] == style]
        figures[f"rm_mean_score_right_{style}"] = sum(chosen) / max(1, len(chosen))
    return figures
