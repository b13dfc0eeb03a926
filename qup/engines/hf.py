"""transformers on CPU or GPU: batched, left-padded, length-sorted decoding with a KV cache.

Each request (a conversation's j-th sample) draws its uniforms from its own seeded generator,
once per batch, and turns each into a token by inverse-CDF sampling over the whole batch at once;
so a sample does not depend on which other requests shared its batch, and a resumed or
re-sharded run gives the same samples. ``model.generate`` has one generator per batch, hence the
small decode loop here. A row stops on any of the model's end-of-turn ids (``qup.chat.end_of_turn_ids``).
"""

from __future__ import annotations

import inspect

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from qup.chat import end_of_turn_ids, pad_batch, positions, prompt_ids
from qup.engines.base import Completion, Conversation, EngineBase, Sampling, request_seed
from qup.progress import advance, progress

DTYPES = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _inverse_cdf(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """One token per row: the first whose cumulative probability passes the row's uniform draw.

    The draw is scaled by the row's total mass, so rounding never lands past the last token and a
    token of probability 0 is never chosen.
    """
    cdf = probs.cumsum(-1)
    mass = cdf[:, -1]
    if not bool(((mass > 0) & torch.isfinite(mass)).all()):
        raise ValueError("a row's next-token probabilities sum to 0 or are not finite; nothing can be sampled")
    return torch.searchsorted(cdf, (uniforms * mass)[:, None], right=True)[:, 0].clamp(max=probs.shape[-1] - 1)


def _top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero the tail outside the smallest set of tokens whose mass reaches ``top_p``."""
    if top_p >= 1.0:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs > top_p
    sorted_probs[outside] = 0.0
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)


class HFEngine(EngineBase):
    """Generation with a transformers model loaded through ``from_pretrained``."""

    name = "hf"
    sampler = "inverse-cdf"  # keys cached samples: samples drawn another way are never mixed in

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto",
                 device: str | None = None, batch_size: int = 64, progress: bool = True,
                 adapter: str | None = None):
        self.model = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.stop_ids = end_of_turn_ids(self.tokenizer, model)
        self.lm = AutoModelForCausalLM.from_pretrained(model, revision=revision, dtype=DTYPES[dtype])
        if adapter is not None:  # a LoRA checkpoint: merged once, then decoding costs what the base model's does
            from peft import PeftModel

            self.lm = PeftModel.from_pretrained(self.lm, adapter).merge_and_unload()
        self.lm.to(self.device).eval()
        # transformers renamed `past_key_values` to `cache`; speak whichever this version knows
        self._cache_arg = "cache" if "cache" in inspect.signature(self.lm.forward).parameters else "past_key_values"
        self.batch_size = batch_size
        self.progress = progress

    def encode(self, conversation: Conversation) -> list[int]:
        return prompt_ids(self.tokenizer, conversation)

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        """``n`` completions per conversation; ``seeds`` (one per conversation) default to its index."""
        prompts = [self.encode(c) for c in conversations]
        seeds = list(range(len(prompts))) if seeds is None else seeds
        jobs = sorted(((len(prompts[i]), i, j) for i in range(len(prompts)) for j in range(n)), reverse=True)
        results: list[list[Completion | None]] = [[None] * n for _ in prompts]
        with progress(total=len(jobs), desc=f"generate ({self.name})", unit="sample", disable=not self.progress) as bar:
            for start in range(0, len(jobs), self.batch_size):
                batch = jobs[start:start + self.batch_size]
                outputs = self._decode([prompts[i] for _, i, _ in batch],
                                       [request_seed(sampling.seed, seeds[i], j) for _, i, j in batch], sampling)
                for (_, i, j), completion in zip(batch, outputs):
                    results[i][j] = completion
                bar.update(len(batch))
                advance(len(batch))
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _decode(self, prompts: list[list[int]], seeds: list[int], sampling: Sampling) -> list[Completion]:
        ids, mask = pad_batch(prompts, self.tokenizer.pad_token_id, "left")
        ids, mask = ids.to(self.device), mask.to(self.device)
        where = positions(mask)
        greedy = sampling.temperature == 0
        # every request's uniforms for the whole decode, from its own generator: one call per request
        uniforms = None if greedy else torch.stack([
            torch.rand(sampling.max_new_tokens, generator=torch.Generator().manual_seed(s))
            for s in seeds]).to(self.device)
        stops = torch.tensor(self.stop_ids, device=self.device)
        cache = DynamicCache()
        tokens: list[list[int]] = [[] for _ in prompts]
        active = list(range(len(prompts)))  # the rows still decoding, by their index in ``prompts``
        logits = self.lm(input_ids=ids, attention_mask=mask, position_ids=where, use_cache=True,
                         **{self._cache_arg: cache}).logits[:, -1, :]
        for step in range(sampling.max_new_tokens):
            if greedy:
                chosen = logits.argmax(-1)
            else:
                probs = _top_p_filter(torch.softmax(logits.float() / sampling.temperature, -1), sampling.top_p)
                chosen = _inverse_cdf(probs, uniforms[:, step])
            for row, token in zip(active, chosen.tolist()):
                tokens[row].append(token)
            running = (~torch.isin(chosen, stops)).nonzero()[:, 0]
            if running.numel() == 0:
                break
            if running.numel() < len(active):  # finished rows leave the batch, so the long tail runs small
                keep = running.tolist()
                active = [active[i] for i in keep]
                uniforms = None if greedy else uniforms[running]
                chosen, mask, where = chosen[running], mask[running], where[running]
                cache.batch_select_indices(running)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
            where = where[:, -1:] + 1
            logits = self.lm(input_ids=chosen[:, None], attention_mask=mask, position_ids=where,
                             use_cache=True, **{self._cache_arg: cache}).logits[:, -1, :]
        completions = []
        for prompt, row in zip(prompts, tokens):
            stopped = bool(row) and row[-1] in self.stop_ids
            text = self.tokenizer.decode(row[:-1] if stopped else row, skip_special_tokens=True)
            completions.append(Completion(text, len(row), "stop" if stopped else "length", prompt_tokens=len(prompt)))
        return completions
