"""Reward models: perceived quality of a trace, as the study's scorers saw it.

- Outcome reward models (ORMs): a sequence classifier or reward head giving one score per
  conversation (e.g. Skywork-Reward-Llama-3.1-8B, Qwen2.5-Math-RM-72B), through transformers or an
  SGLang server started with ``--is-embedding`` (``POST /classify``, chat template applied here).
- Process reward models (PRMs): the response split into steps, the steps joined by the model's
  separator token (``<extra_0>`` for Qwen2.5-Math-PRM-7B), a probability that each step is right
  read at each separator, aggregated by min, mean or last.
Inputs are batched by length; the conversation goes through the reward model's own chat template.
"""

from __future__ import annotations

import statistics
import sys
from typing import Protocol

import torch

from qup.chat import Conversation, conversation_ids, length_sorted_batches, pad_batch
from qup.progress import progress
from qup.scoring.device import scoring_device

AGGREGATES = {"min": min, "mean": statistics.fmean, "last": lambda values: values[-1]}


class RewardModel(Protocol):
    label: str

    def score(self, pairs: list[tuple[Conversation, str]]) -> list[float | None]:
        """One score per (conversation, response)."""

    def close(self) -> None:
        ...


def split_steps(response: str, split: str) -> list[str]:
    """The response's steps: non-empty pieces between ``split`` markers, stripped."""
    return [step.strip() for step in response.split(split) if step.strip()]


def join_steps(steps: list[str], separator: str) -> str:
    """Steps in the PRM's input format: each step followed by the separator token."""
    return "".join(f"{step}{separator}" for step in steps)


def load_with_head(loader, path: str, **kwargs):
    """``loader.from_pretrained(path)``, refusing a checkpoint that lacks weights the model needs: a causal LM
    (a hub base model, a converted GGUF file) has no classification head, and transformers would give it a
    random one whose scores are noise."""
    model, info = loader.from_pretrained(path, output_loading_info=True, **kwargs)
    if info["missing_keys"]:
        raise ValueError(f"reward model {path}: its checkpoint has no {', '.join(sorted(info['missing_keys']))}, "
                         "so that head would start random; a reward model needs a checkpoint saved with its "
                         "classification head (a causal LM or a GGUF file has none)")
    return model


class HFOutcomeRewardModel:
    """A sequence classifier (one logit) loaded with ``AutoModelForSequenceClassification``."""

    def __init__(self, path: str, *, label: str, batch_size: int = 16, device: str | None = None,
                 dtype: str = "auto", progress: bool = False):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.label, self.batch_size, self.progress = label, batch_size, progress
        self.device = scoring_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = load_with_head(AutoModelForSequenceClassification, path, dtype=dtype).to(self.device).eval()
        self.pad_id = self.model.config.pad_token_id
        if self.pad_id is None:
            raise ValueError(f"reward model {path}: its config has no pad_token_id, so the scored token is unknown")

    @torch.inference_mode()
    def score(self, pairs: list[tuple[Conversation, str]]) -> list[float | None]:
        sequences = [conversation_ids(self.tokenizer, c, r) for c, r in pairs]
        scores: list[float | None] = [None] * len(sequences)
        with progress(total=len(sequences), desc=f"reward {self.label}", disable=not self.progress) as bar:
            for chunk in length_sorted_batches([len(s) for s in sequences], self.batch_size):
                ids, mask = pad_batch([sequences[i] for i in chunk], self.pad_id)
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
                for i, value in zip(chunk, logits[:, 0].tolist()):
                    scores[i] = value
                bar.update(len(chunk))
        return scores

    def close(self) -> None:
        pass


class HFProcessRewardModel:
    """A PRM: per-token two-class logits, read at each step separator (Qwen2.5-Math-PRM's layout)."""

    def __init__(self, path: str, *, label: str, step_split: str, step_separator: str, aggregate: str,
                 batch_size: int = 16, device: str | None = None, dtype: str = "auto",
                 trust_remote_code: bool = False, progress: bool = False):
        from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer

        if aggregate not in AGGREGATES:
            raise ValueError(f"unknown PRM aggregate {aggregate!r}; choose {', '.join(AGGREGATES)}")
        self.label, self.batch_size, self.progress = label, batch_size, progress
        self.step_split, self.separator, self.aggregate = step_split, step_separator, aggregate
        self.device = scoring_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        self.separator_id = self.tokenizer.convert_tokens_to_ids(step_separator)
        if self.separator_id is None or self.separator_id == self.tokenizer.unk_token_id:
            raise ValueError(f"reward model {path}: step separator {step_separator!r} "
                             "is not one token of its vocabulary")
        loader = AutoModel if trust_remote_code else AutoModelForTokenClassification
        self.model = load_with_head(loader, path, dtype=dtype, trust_remote_code=trust_remote_code)
        self.model.to(self.device).eval()
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.tokenizer.eos_token_id

    def step_inputs(self, conversation: Conversation, response: str) -> list[int]:
        steps = split_steps(response, self.step_split) or [response.strip()]
        return conversation_ids(self.tokenizer, conversation, join_steps(steps, self.separator))

    @torch.inference_mode()
    def step_scores(self, pairs: list[tuple[Conversation, str]]) -> list[list[float]]:
        """The probability that each step is right, per response."""
        sequences = [self.step_inputs(c, r) for c, r in pairs]
        out: list[list[float]] = [[] for _ in sequences]
        with progress(total=len(sequences), desc=f"reward {self.label}", disable=not self.progress) as bar:
            for chunk in length_sorted_batches([len(s) for s in sequences], self.batch_size):
                ids, mask = pad_batch([sequences[i] for i in chunk], self.pad_id)
                ids = ids.to(self.device)
                output = self.model(input_ids=ids, attention_mask=mask.to(self.device))
                logits = output.logits if hasattr(output, "logits") else output[0]
                probs = torch.softmax(logits.float(), dim=-1)[..., 1]
                for row, i in enumerate(chunk):
                    out[i] = probs[row][ids[row] == self.separator_id].tolist()
                bar.update(len(chunk))
        return out

    def score(self, pairs: list[tuple[Conversation, str]]) -> list[float | None]:
        return [AGGREGATES[self.aggregate](steps) if steps else None for steps in self.step_scores(pairs)]

    def close(self) -> None:
        pass


class SGLangOutcomeRewardModel:
    """An ORM behind an SGLang server run with ``--is-embedding``: token ids to ``POST /classify``."""

    def __init__(self, path: str, *, label: str, url: str | None = None, python: str | None = None,
                 device: str | None = None, tp_size: int = 1, extra_args: list[str] | None = None,
                 startup_timeout: float = 600, request_timeout: float = 600, batch_size: int = 64,
                 progress: bool = False):
        from transformers import AutoTokenizer

        from qup.engines.server import ManagedServer, free_port
        from qup.engines.sglang import sglang_command

        self.label, self.batch_size, self.progress, self.timeout = label, batch_size, progress, request_timeout
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.server = None
        if url is None:
            port = free_port()
            cmd = sglang_command(path, python=python or sys.executable, port=port, device=device, tp_size=tp_size,
                                 extra_args=["--is-embedding", *(extra_args or [])])
            self.server = ManagedServer(cmd, port, startup_timeout=startup_timeout)
            url = self.server.url
        self.url = url.rstrip("/")

    def score(self, pairs: list[tuple[Conversation, str]]) -> list[float | None]:
        from qup.engines.server import post_json

        sequences = [conversation_ids(self.tokenizer, c, r) for c, r in pairs]
        scores: list[float | None] = []
        for begin in progress(range(0, len(sequences), self.batch_size), desc=f"reward {self.label}",
                              disable=not self.progress):
            outputs = post_json(f"{self.url}/classify", {"input_ids": sequences[begin:begin + self.batch_size]},
                            self.timeout)
            scores += [float(o["embedding"][0]) for o in outputs]
        return scores

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
