"""Adaptation cost: the SLM's per-token negative log-likelihood of a response given its prompt.

The conversation goes through the model's chat template exactly as in training; only the
response's tokens count (the assistant turn, its end-of-turn token included), never the
prompt's. Batches are sorted by length and padded on either side with position ids taken from
the attention mask, so padding changes nothing; no gradients are kept.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from qup.engines import Conversation


class TemplateMismatch(ValueError):
    """The chat template renders the prompt differently once the response is appended."""


@dataclass(frozen=True)
class ResponseNLL:
    """The response's token ids and the NLL (nats) of each, in order."""

    token_ids: list[int]
    nll: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.nll)) if self.nll else float("nan")

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean) if self.nll else float("nan")

    def quarter_perplexities(self) -> list[float | None]:
        """Perplexity of each quarter of the response (Q1-Q4); None for an empty quarter."""
        return [math.exp(float(part.mean())) if part.size else None
                for part in np.array_split(np.asarray(self.nll, dtype=float), 4)]


def encode_pair(tokenizer, conversation: Conversation, response: str) -> tuple[list[int], int]:
    """The ids of prompt + response through the chat template, and where the response starts."""
    prompt = tokenizer.apply_chat_template(conversation, tokenize=True, add_generation_prompt=True,
                                           return_dict=True)["input_ids"]
    full = tokenizer.apply_chat_template(conversation + [{"role": "assistant", "content": response}],
                                         tokenize=True, return_dict=True)["input_ids"]
    if full[:len(prompt)] != prompt or len(full) <= len(prompt):
        raise TemplateMismatch("the chat template does not render the prompt as a prefix of prompt + response; "
                               "the response's tokens cannot be told apart from the prompt's")
    return full, len(prompt)


@torch.inference_mode()
def _batch_nll(model, sequences: list[list[int]], starts: list[int], pad_id: int, padding_side: str,
               device) -> list[list[float]]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    offsets = []
    for row, seq in enumerate(sequences):
        offset = width - len(seq) if padding_side == "left" else 0
        ids[row, offset:offset + len(seq)] = torch.tensor(seq)
        mask[row, offset:offset + len(seq)] = 1
        offsets.append(offset)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
    logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
    out = []
    for row, (seq, start, offset) in enumerate(zip(sequences, starts, offsets)):
        # token t is predicted at position t - 1
        out.append((-logprobs[row, offset + start - 1:offset + len(seq) - 1]).tolist())
    return out


def response_nll(model, tokenizer, pairs: list[tuple[Conversation, str]], *, batch_size: int = 32,
                 padding_side: str = "right", progress: bool = False) -> list[ResponseNLL]:
    """The per-token NLL of each response given its conversation, batched by length."""
    encoded = [encode_pair(tokenizer, conversation, response) for conversation, response in pairs]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]), reverse=True)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    results: list[ResponseNLL | None] = [None] * len(encoded)
    with tqdm(total=len(order), desc="nll", unit="trace", disable=not progress) as bar:
        for begin in range(0, len(order), batch_size):
            chunk = order[begin:begin + batch_size]
            values = _batch_nll(model, [encoded[i][0] for i in chunk], [encoded[i][1] for i in chunk], pad,
                                padding_side, device)
            for i, nll in zip(chunk, values):
                results[i] = ResponseNLL(encoded[i][0][encoded[i][1]:], nll)
            bar.update(len(chunk))
    return results  # type: ignore[return-value]


def top_loss_tokens(results: list[ResponseNLL], tokenizer, n: int = 20) -> list[dict]:
    """The ``n`` tokens carrying the most loss over a corpus, each with its share of the total."""
    loss: dict[int, float] = defaultdict(float)
    count: dict[int, int] = defaultdict(int)
    for result in results:
        for token, value in zip(result.token_ids, result.nll):
            loss[token] += value
            count[token] += 1
    total = sum(loss.values()) or 1.0
    top = sorted(loss, key=loss.get, reverse=True)[:n]
    return [{"token": tokenizer.convert_ids_to_tokens(t), "loss_share": loss[t] / total, "count": count[t],
             "mean_nll": loss[t] / count[t]} for t in top]
