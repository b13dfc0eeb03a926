"""Params of the train stages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qup.config.base import Strict


class TrainParams(Strict):
    """The train@<corpus> stages: one budget, the same for every corpus."""

    method: Literal["lora", "full"] = "lora"
    # one checkpoint per training seed: a seed changes data order and adapter initialisation, never the problems
    seeds: list[int] = Field([0, 1, 2], min_length=1)

    @model_validator(mode="after")
    def _distinct_seeds(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"train.seeds repeats a seed: {self.seeds}")
        return self
    objective: Literal["sft", "dft"] = "sft"  # dft: Dynamic Fine-Tuning (token losses weighted by probability)
    examples: int | None = Field(300, ge=1)  # problems per corpus (all corpora cover them); None: every common one
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(16, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    max_length: int = Field(1024, ge=16)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_targets: str | list[str] = "all-linear"
    save_steps: int = Field(5, ge=1)  # checkpoint interval, for resuming after a crash (a toy seed trains 19 steps)
    device: Literal["cpu", "cuda"] | None = None  # None: cuda when available
    threads: int | None = Field(2, ge=1)  # torch CPU threads; None: torch's default
