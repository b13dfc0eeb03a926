"""transformers on CPU or GPU: batched, left-padded, length-sorted generation with a KV cache."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from qup.engines import Completion, Conversation, Sampling

DTYPES = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class HFEngine:
    """Generation through ``model.generate``; the model is loaded with ``from_pretrained``."""

    name = "hf"

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto",
                 device: str | None = None, batch_size: int = 64, progress: bool = True):
        self.model = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm = AutoModelForCausalLM.from_pretrained(model, revision=revision, dtype=DTYPES[dtype])
        self.lm.to(self.device).eval()
        self.batch_size = batch_size
        self.progress = progress

    def encode(self, conversation: Conversation) -> list[int]:
        """The prompt's token ids: the chat template applied once, ready for the answer."""
        return self.tokenizer.apply_chat_template(conversation, tokenize=True, add_generation_prompt=True,
                                                  return_dict=True)["input_ids"]

    @torch.inference_mode()
    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling) -> list[list[Completion]]:
        prompts = [self.encode(c) for c in conversations]
        jobs = sorted(((len(prompts[i]), i, j) for i in range(len(prompts)) for j in range(n)), reverse=True)
        results: list[list[Completion | None]] = [[None] * n for _ in prompts]
        eos = self.tokenizer.eos_token_id
        bar = tqdm(total=len(jobs), desc="generate", unit="sample", disable=not self.progress)
        for start in range(0, len(jobs), self.batch_size):
            batch = jobs[start:start + self.batch_size]
            padded = self.tokenizer.pad({"input_ids": [prompts[i] for _, i, _ in batch]}, return_tensors="pt")
            torch.manual_seed(sampling.seed * 1_000_003 + start)
            greedy = sampling.temperature == 0
            out = self.lm.generate(
                input_ids=padded["input_ids"].to(self.device),
                attention_mask=padded["attention_mask"].to(self.device),
                do_sample=not greedy,
                temperature=None if greedy else sampling.temperature,
                top_p=None if greedy else sampling.top_p,
                top_k=0 if not greedy else None,
                max_new_tokens=sampling.max_new_tokens,
                eos_token_id=eos,
                pad_token_id=self.tokenizer.pad_token_id,
            )
            new_tokens = out[:, padded["input_ids"].shape[1]:].tolist()
            for (_, i, j), tokens in zip(batch, new_tokens):
                stopped = eos in tokens
                tokens = tokens[: tokens.index(eos)] if stopped else tokens
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                results[i][j] = Completion(text, len(tokens) + int(stopped), "stop" if stopped else "length")
            bar.update(len(batch))
        bar.close()
        return results  # type: ignore[return-value]
