"""A reward model with a real architecture, trained on the run's own graded samples: the SLM's body with a
linear classification head (``AutoModelForSequenceClassification``), fitted to tell its right samples from
its wrong ones.

The body stays frozen: the head is a logistic regression on the hidden state the classifier pools (the last
token that is not padding), fitted once with L-BFGS. That is what a CPU can afford for a 135M-parameter
model, and it is saved and loaded like any hub outcome reward model.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import polars as pl
import torch

from qup.chat import conversation_ids, length_sorted_batches, pad_batch
from qup.config import HeadRMParams
from qup.progress import progress
from qup.prompts import Prompt


def labelled_samples(samples: pl.DataFrame, problems: pl.DataFrame, params: HeadRMParams,
                     seed: int) -> list[tuple[str, str, bool]]:
    """(question, response, correct) for at most ``max_samples`` samples, right and wrong ones balanced."""
    joined = samples.join(problems.select(pl.col("id").alias("problem_id"), "question"), on="problem_id")
    right = [r for r in joined.iter_rows(named=True) if r["correct"]]
    wrong = [r for r in joined.iter_rows(named=True) if not r["correct"]]
    if not right or not wrong:
        raise ValueError(f"the reward model head needs right and wrong samples; the native samples have "
                         f"{len(right)} right and {len(wrong)} wrong")
    rng = random.Random(f"head_rm:{seed}")
    each = min(params.max_samples // 2, len(right), len(wrong))
    chosen = rng.sample(right, each) + rng.sample(wrong, each)
    rng.shuffle(chosen)
    return [(r["question"], r["response"], bool(r["correct"])) for r in chosen]


@torch.inference_mode()
def pooled_states(model, sequences: list[list[int]], pad_id: int, batch_size: int) -> torch.Tensor:
    """The hidden state the classifier scores for each sequence: its last token that is not padding."""
    out = torch.empty(len(sequences), model.config.hidden_size)
    with progress(total=len(sequences), desc="reward head: features", unit="sample") as bar:
        for chunk in length_sorted_batches([len(s) for s in sequences], batch_size):
            ids, mask = pad_batch([sequences[i] for i in chunk], pad_id)
            hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
            last = (torch.arange(ids.shape[1]) * (ids != pad_id)).argmax(-1)  # as the classifier pools
            out[chunk] = hidden[torch.arange(len(chunk)), last].float()
            bar.update(len(chunk))
    return out


def fit_head(features: torch.Tensor, labels: torch.Tensor, l2: float) -> torch.Tensor:
    """Logistic-regression weights (no intercept: the classifier's head has none) by L-BFGS."""
    weight = torch.zeros(features.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weight], max_iter=200, line_search_fn="strong_wolfe")
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(features @ weight, labels) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach()


def right_over_wrong(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """How often a right sample outscores a wrong one (ties count half): the ROC AUC."""
    right, wrong = scores[labels == 1], scores[labels == 0]
    if not len(right) or not len(wrong):
        return float("nan")
    greater = (right[:, None] > wrong[None, :]).float().sum() + 0.5 * (right[:, None] == wrong[None, :]).float().sum()
    return float(greater / (len(right) * len(wrong)))


def train_head_reward_model(slm_path: str, samples: pl.DataFrame, problems: pl.DataFrame, prompt: Prompt,
                            out_dir: Path, params: HeadRMParams, *, seed: int) -> dict:
    """Fit the head on the SLM's graded samples (its body in its checkpoint's dtype, the fit in float32), save the
    classifier to ``out_dir``; held-out figures."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(params.threads)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(slm_path)
    model = AutoModelForSequenceClassification.from_pretrained(slm_path, num_labels=1, dtype="auto").eval()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.config.pad_token_id = pad_id
    examples = labelled_samples(samples, problems, params, seed)
    sequences = [conversation_ids(tokenizer, [{"role": "user", "content": prompt.render(question=q)}], r)[
        :params.max_length] for q, r, _ in examples]
    features = pooled_states(model, sequences, pad_id, params.batch_size)
    labels = torch.tensor([float(c) for _, _, c in examples])
    n_fit = max(1, round(len(examples) * (1 - params.held_out)))
    mean, std = features[:n_fit].mean(0), features[:n_fit].std(0).clamp_min(1e-6)
    weight = fit_head((features[:n_fit] - mean) / std, labels[:n_fit], params.l2) / std
    with torch.no_grad():
        model.score.weight.copy_(weight[None, :].to(model.score.weight.dtype))
    held = features[n_fit:] @ weight
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"rm_samples": len(examples), "rm_fit_samples": n_fit,
            "rm_right_over_wrong_fit": right_over_wrong(features[:n_fit] @ weight, labels[:n_fit]),
            "rm_right_over_wrong": right_over_wrong(held, labels[n_fit:]),
            "rm_train_seconds": round(time.perf_counter() - started, 1)}
