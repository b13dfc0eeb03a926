"""Params of the train stages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qup.config.base import Strict

Objective = Literal["sft", "dft", "cadft"]


class LauncherParams(Strict):
    """How a train@<corpus> stage runs: in its own process, or re-run under ``accelerate launch``."""

    name: Literal["none", "accelerate"] = "none"
    processes: int = Field(1, ge=1)  # data-parallel processes (one per GPU) on this node
    config_file: str | None = None  # an accelerate config file: DeepSpeed ZeRO or FSDP, its mixed precision as dtype

    @model_validator(mode="after")
    def _needs_accelerate(self):
        if self.name == "none" and (self.processes > 1 or self.config_file):
            raise ValueError("train.launcher.processes > 1 and train.launcher.config_file need "
                             "train.launcher.name: accelerate")
        return self


class TrainParams(Strict):
    """The train@<corpus> stages: one budget, the same for every corpus."""

    method: Literal["lora", "full"] = "lora"
    # one checkpoint per training seed: a seed changes data order and adapter initialisation, never the problems
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    # dft: Dynamic Fine-Tuning (token losses weighted by probability); cadft: DFT with each sample weighted by
    # exp(-cadft_beta * max(0, z)), z its mean token NLL under the current model z-scored within the micro-batch
    objective: Objective = "sft"
    # several objectives trained (and evaluated, reported) in one run, the first the primary; None: [objective]
    objectives: list[Objective] | None = Field(None, min_length=1)
    cadft_beta: float = Field(1.0, ge=0)  # cadft only: how steeply an incompatible sample's weight falls
    examples: int | None = Field(300, ge=1)  # problems per corpus (all corpora cover them); None: every common one
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(16, ge=1)  # examples per process and forward pass (the micro-batch)
    # examples per optimiser step, whatever the number of processes; None: batch_size. Gradient accumulation is
    # global_batch_size / (batch_size × processes), which must be a whole number
    global_batch_size: int | None = Field(None, ge=1)
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
    # auto: bf16 on a GPU that supports it, else fp32. bf16: bfloat16 weights and autocast; fp16: float32 weights,
    # float16 autocast with loss scaling (a GPU only); fp32: float32 throughout
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, ~20% slower
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] | None = None  # None: transformers' choice
    launcher: LauncherParams = LauncherParams()

    @model_validator(mode="before")
    @classmethod
    def _no_gradient_accumulation(cls, data):
        if isinstance(data, dict) and "gradient_accumulation" in data:
            raise ValueError("train.gradient_accumulation is derived now: set train.global_batch_size (examples per "
                             "optimiser step: batch_size × gradient_accumulation × processes) instead")
        return data

    @model_validator(mode="after")
    def _distinct_seeds(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"train.seeds repeats a seed: {self.seeds}")
        return self

    @model_validator(mode="after")
    def _one_objective_key(self):
        if self.objectives is None:
            return self
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"train.objectives repeats an objective: {self.objectives}")
        # params.yaml names train.objective, so a run of several keeps it when it is their first
        if "objective" in self.model_fields_set and self.objective != self.objectives[0]:
            raise ValueError(f"train.objective {self.objective} and train.objectives {self.objectives} are both set: "
                             "use one (train.objectives alone; its first is the primary objective)")
        return self

    @model_validator(mode="after")
    def _batch_divides(self):
        self.gradient_accumulation(self.launcher.processes)
        return self

    @property
    def run_objectives(self) -> list[str]:
        """The objectives this run trains, the primary first: ``objectives``, else ``[objective]``."""
        return list(self.objectives or [self.objective])

    def for_objective(self, objective: str) -> TrainParams:
        """These params as a run of ``objective`` alone: what its training (and its run key) reads."""
        return TrainParams.model_validate({**self.model_dump(exclude={"objectives"}), "objective": objective})

    @property
    def global_batch(self) -> int:
        """Examples per optimiser step."""
        return self.global_batch_size or self.batch_size

    def gradient_accumulation(self, processes: int) -> int:
        """Forward passes per optimiser step and process, so that ``processes`` keep the global batch."""
        total = self.global_batch
        per_step = self.batch_size * processes
        if total % per_step:
            fits = [b for b in range(self.batch_size - 1, 0, -1) if total % (b * processes) == 0]
            null = " (null: batch_size)" if self.global_batch_size is None else ""
            fix = (f"set train.batch_size to {fits[0]} or " if fits else "set ") + \
                f"train.global_batch_size to a multiple of {per_step}"
            raise ValueError(f"train.global_batch_size {total}{null} does not split into whole accumulation steps "
                             f"of train.batch_size {self.batch_size} × {processes} processes = {per_step} examples: "
                             f"{fix}")
        return total // per_step
