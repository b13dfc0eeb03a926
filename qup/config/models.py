"""Params of the models by role (stage models) and the reward-model head on the SLM."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qup.config.base import Strict
from qup.toy.params import ToyRMParams, ToySLMParams  # the toy world's models sit beside the real ones


class ModelRef(Strict):
    """A model by role: ``toy`` (trained here), a hub id, or a local directory."""

    name: str = "toy"
    revision: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"


class HeadRMParams(Strict):
    """The reward model ``slm_head``: the SLM's frozen body with a linear head fitted on its own graded native
    samples (see qup/scoring/head_rm.py)."""

    max_samples: int = Field(512, ge=2)  # right and wrong samples, balanced
    held_out: float = Field(0.2, ge=0, lt=1)  # share kept out of the fit, for its right-over-wrong figure
    l2: float = Field(1e-3, ge=0)
    max_length: int = Field(1024, ge=16)
    batch_size: int = Field(8, ge=1)
    threads: int = Field(2, ge=1)


class EvalParams(Strict):
    k: int = Field(8, ge=1)
    temperature: float = Field(1.0, ge=0)
    max_new_tokens: int = Field(128, ge=1)
    batch_size: int = Field(64, ge=1)
    workers: int = Field(2, ge=1)  # decoding processes (engines.<role>.hf.workers); the figures do not change


class ModelsParams(Strict):
    slm: ModelRef = ModelRef()
    oracle: ModelRef = ModelRef(name="symbolic")  # symbolic (toy world) | a hub id | a local directory | an API model
    toy_slm: ToySLMParams = ToySLMParams()
    toy_rm: ToyRMParams = ToyRMParams()
    head_rm: HeadRMParams = HeadRMParams()
    eval: EvalParams = EvalParams()
