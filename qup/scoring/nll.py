"""Adaptation cost: the SLM's per-token negative log-likelihood of a response given its prompt.

The conversation goes through the model's chat template exactly as in training; only the
response's tokens count (what the model writes after the prompt, its end-of-turn token included:
``qup.chat.response_span``), never the prompt's. In process, batches are sorted by length; right
padding needs no attention mask (a causal model never looks ahead at the padding), which keeps
the fast causal attention path; left padding takes its position ids from the mask. No gradients
are kept. On a GPU node the same figures come from an SGLang server's prompt logprobs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from qup.chat import Conversation, Side, TemplateMismatch, length_sorted_batches, pad_batch, positions, response_span
from qup.progress import progress
from qup.scoring.device import scoring_device

__all__ = ["ResponseNLL", "TemplateMismatch", "content_mask", "load_nll_model", "nll_backend", "response_nll",
           "sglang_response_nll", "split_perplexities", "top_loss_tokens"]

Pair = tuple[Conversation, str]
NLLFunction = Callable[[list[Pair]], list["ResponseNLL"]]


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


CONTENT_CHARACTERS = frozenset("0123456789+-*/=^×÷")


def content_mask(tokenizer, token_ids: list[int]) -> list[bool]:
    """Which tokens carry the maths (a digit or an operator in their text) rather than the wording
    around it, by each token's own text (``convert_ids_to_tokens``), for any tokenizer."""
    return [bool(CONTENT_CHARACTERS.intersection(token)) for token in tokenizer.convert_ids_to_tokens(token_ids)]


def split_perplexities(nll: list[float], content: list[bool]) -> tuple[float | None, float | None]:
    """Perplexity over the content tokens and over the template tokens (None where there are none)."""
    values = np.asarray(nll, dtype=float)
    mask = np.asarray(content, dtype=bool)
    return tuple(math.exp(float(part.mean())) if part.size else None for part in (values[mask], values[~mask]))


@torch.inference_mode()
def _batch_nll(model, sequences: list[list[int]], starts: list[int], pad_id: int, side: Side,
               device) -> list[list[float]]:
    ids, mask = pad_batch(sequences, pad_id, side)
    ids = ids.to(device)
    if side == "right":  # the padding comes after every real token, which a causal model never attends to
        logits = model(input_ids=ids).logits
    else:
        mask = mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask)).logits
    width = ids.shape[1]
    out = []
    for row, (seq, start) in enumerate(zip(sequences, starts)):
        offset = width - len(seq) if side == "left" else 0
        # token t is predicted at position t - 1
        predicted = logits[row, offset + start - 1:offset + len(seq) - 1].float()
        targets = ids[row, offset + start:offset + len(seq)]
        out.append((-torch.log_softmax(predicted, dim=-1).gather(-1, targets[:, None])[:, 0]).tolist())
    return out


def response_nll(model, tokenizer, pairs: list[Pair], *, batch_size: int = 32, padding_side: Side = "right",
                 progress_bar: bool = False) -> list[ResponseNLL]:
    """The per-token NLL of each response given its conversation, batched by length, in process."""
    encoded = [response_span(tokenizer, conversation, response) for conversation, response in pairs]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    results: list[ResponseNLL | None] = [None] * len(encoded)
    with progress(total=len(encoded), desc="nll", unit="trace", disable=not progress_bar) as bar:
        for chunk in length_sorted_batches([len(ids) for ids, _ in encoded], batch_size):
            values = _batch_nll(model, [encoded[i][0] for i in chunk], [encoded[i][1] for i in chunk], pad,
                                padding_side, device)
            for i, nll in zip(chunk, values):
                results[i] = ResponseNLL(encoded[i][0][encoded[i][1]:], nll)
            bar.update(len(chunk))
    return results  # type: ignore[return-value]


def sglang_response_nll(url: str, tokenizer, pairs: list[Pair], *, timeout: float = 600, concurrency: int = 32,
                        progress_bar: bool = False) -> list[ResponseNLL]:
    """Each response's per-token NLL from an SGLang server's prompt logprobs (``return_logprob``
    from where the response starts; the one token it generates does not count)."""
    from qup.engines.server import post_json

    def one(pair: Pair) -> ResponseNLL:
        ids, start = response_span(tokenizer, *pair)
        payload = {"input_ids": ids, "sampling_params": {"max_new_tokens": 1, "temperature": 0.0},
                   "return_logprob": True, "logprob_start_len": start - 1}  # its first entry has none
        entries = post_json(f"{url}/generate", payload, timeout)["meta_info"]["input_token_logprobs"]
        values = [e[0] for e in entries[1:]]  # by position: the ids it echoes may differ (it printed 0 for "\n")
        if len(values) != len(ids) - start or None in values:
            raise RuntimeError(f"the server returned {len(values)} prompt logprobs for a {len(ids) - start}-token "
                               "response")
        return ResponseNLL(ids[start:], [-v for v in values])

    with ThreadPoolExecutor(concurrency) as pool:
        return list(progress(pool.map(one, pairs), total=len(pairs), desc="nll (sglang)", disable=not progress_bar))


def load_nll_model(path: str, device: str | None = None):
    """The causal LM at ``path`` in its checkpoint's dtype, for scoring on ``device`` (``scoring_device``'s rule)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype="auto").to(scoring_device(device)).eval()


@contextmanager
def nll_backend(params, slm: dict) -> Iterator[tuple[NLLFunction, object]]:
    """The SLM's response NLL as ``params.scoring.nll_engine`` chooses, with the SLM's tokenizer:
    ``hf`` computes it in this process; ``sglang`` reads an SGLang server's prompt logprobs (a
    server launched with ``engines.slm.sglang``'s options, or the one at its ``url``)."""
    from transformers import AutoTokenizer

    from qup.engines import make_engine

    tokenizer = AutoTokenizer.from_pretrained(slm["path"])
    if params.scoring.nll_engine == "sglang":
        options = params.engines.slm.sglang
        with make_engine(params.engines.slm.model_copy(update={"engine": "sglang"}), slm) as server:
            yield (lambda pairs: sglang_response_nll(server.url, tokenizer, pairs, timeout=options.request_timeout,
                                                     concurrency=options.concurrency)), tokenizer
    else:
        model = load_nll_model(slm["path"], params.scoring.device)
        yield (lambda pairs: response_nll(model, tokenizer, pairs, batch_size=params.scoring.nll_batch_size)), tokenizer


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
