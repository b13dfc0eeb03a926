"""The toy world's params: its problems, its SLM and its reward model (sections toy, models.toy_slm, models.toy_rm)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qup.config.base import Strict


class ToyParams(Strict):
    min_steps: int = Field(2, ge=1)
    max_steps: int = Field(4, ge=1)
    allow_multiply: bool = True
    max_value: int = Field(40, ge=10)  # every quantity stays within 0..max_value
    max_operand: int = Field(9, ge=1)  # largest number added or taken away
    mistake_rate: float = Field(0.1, ge=0, le=1)
    # kinds the SLM's training traces get; "operand" (a wrong number copied) is left out by default:
    # it taught the tiny SLM that any number in the question will do (operand copying fell from 91% to 49%)
    mistake_kinds: list[Literal["arithmetic", "operand"]] = ["arithmetic"]
    oracle_share: float = Field(0.05, ge=0, le=1)
    # how many of the Oracle's 3 phrasings per slot (opening, each operation, closing) that Oracle-style text uses;
    # the rest come from another strong model's phrasebook: a real SLM has read the genre, not this Oracle's words
    oracle_phrases_seen: int = Field(1, ge=0, le=3)

    @model_validator(mode="after")
    def _steps_ordered(self):
        if self.min_steps > self.max_steps:
            raise ValueError("toy.min_steps must not exceed toy.max_steps")
        return self


class ToySLMParams(Strict):
    # the SLM's own seed (weights' init and its training stream); None: the study's `seed`. Another value trains
    # another base SLM on the same problems: scripts/base_slm_factor.sh measures how far the conclusions move
    seed: int | None = None
    hidden_size: int = Field(96, ge=8)
    intermediate_size: int = Field(256, ge=8)
    num_layers: int = Field(3, ge=1)
    num_heads: int = Field(4, ge=1)
    head_dim: int | None = Field(32, ge=8)  # None: hidden_size / num_heads; vLLM's CPU kernels need 32, 64, ...
    max_positions: int = Field(512, ge=64)
    # Trained to convergence: the model first learns to copy numbers from the question (a plateau whose end
    # falls at a seed-dependent step), then arithmetic. Stopped mid-way (1,800 steps) its greedy accuracy
    # ranged 0.37-0.97 across seeds; init_std 0.06 (transformers' default 0.02 lengthens the plateau), lr 3e-3
    # and 3,000 steps let every seed converge. README "What varies, and by how much" has the measurements.
    init_std: float = Field(0.06, gt=0)
    train_steps: int = Field(3000, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    warmup_steps: int = Field(50, ge=0)
    final_lr_fraction: float = Field(0.02, ge=0, le=1)
    curriculum_fraction: float = Field(0.5, ge=0, le=1)  # longer problems unlock over this share of training
    loss_on_prompt: bool = True  # also learn the questions: induction heads that copy numbers form sooner
    checkpoint_every: int = Field(200, ge=1)
    threads: int = Field(2, ge=1)


class ToyRMParams(Strict):
    """The toy world's reward model: a tiny sequence classifier (see qup/toy/train_rm.py)."""

    hidden_size: int = Field(64, ge=8)
    intermediate_size: int = Field(128, ge=8)
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(4, ge=1)
    train_steps: int = Field(300, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    wrong_share: float = Field(0.5, ge=0, le=1)  # share of training solutions with an injected mistake
    # target of a right solution by style: what preference data teaches real reward models
    style_targets: dict[Literal["native", "oracle", "textbook"], float] = {"native": 0.6, "oracle": 1.0,
                                                                           "textbook": 0.8}
    threads: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _every_style(self):
        missing = {"native", "oracle", "textbook"} - set(self.style_targets)
        if missing:
            raise ValueError(f"models.toy_rm.style_targets lacks {', '.join(sorted(missing))}")
        return self
