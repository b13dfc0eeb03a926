"""Params of the score stages: reward models, adaptation cost, style."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qup.config.base import Strict


class RewardModelRef(Strict):
    """One reward model the score stages run: an ORM or a PRM, through transformers or SGLang."""

    # a kind the reward_model stage trains (qup/scoring/kinds.py): toy (the toy world's) | slm_head (the SLM with a
    # head fitted on its graded samples) | oracle_head (the same head on the Oracle's body); else a hub id | a local
    # directory
    name: str = "toy"
    label: str | None = None  # names its columns and metrics; None: from the name
    revision: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    kind: Literal["orm", "prm"] = "orm"
    engine: Literal["hf", "sglang"] = "hf"
    batch_size: int = Field(16, ge=1)
    # PRMs: how the response splits into steps, the token that closes each step, and how step scores combine
    step_split: str = "\n\n"
    step_separator: str = "<extra_0>"
    aggregate: Literal["min", "mean", "last"] = "min"
    trust_remote_code: bool = False  # e.g. Qwen2.5-Math-PRM-7B
    sglang_url: str | None = None  # engine sglang: a running server started with --is-embedding; None: launch one
    sglang_python: str | None = None
    sglang_args: list[str] = []

    @property
    def column(self) -> str:
        import re

        return "reward_" + (self.label or re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_"))


class ScoringParams(Strict):
    """The score stages: reward models, adaptation cost and style distance of every corpus."""

    reward_models: list[RewardModelRef] = [RewardModelRef(name="toy", label="toy_orm", batch_size=32)]
    # the SLM's NLL: hf (in process) | sglang (prompt logprobs from a server, with engines.slm.sglang's options)
    nll_engine: Literal["hf", "sglang"] = "hf"
    nll_batch_size: int = Field(16, ge=1)  # on CPU a small model is compute-bound: 8-16 beats 64 (qup bench nll)
    # where the hf NLL and reward models run, each in its checkpoint's dtype; None: as training, cuda when available
    device: Literal["cpu", "cuda"] | None = None
    top_tokens: int = Field(20, ge=1)
    bootstrap: int = Field(1000, ge=10)  # resamples for the 95% intervals
    shard_size: int = Field(256, ge=1)

    @model_validator(mode="after")
    def _distinct_columns(self):
        columns = [r.column for r in self.reward_models]
        if len(set(columns)) != len(columns):
            raise ValueError(f"scoring.reward_models: two reward models share a label ({', '.join(columns)}); "
                             "give each a distinct label")
        return self
