"""Params of the corpora: native rejection sampling and the Oracle's corpora."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qup.config.base import Strict


class NativeParams(Strict):
    """Rejection sampling: the SLM's own k samples per train problem."""

    k: int = Field(8, ge=1)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(128, ge=1)
    prompt: str = "toy_solve"  # qup/prompts/<name>.v<N>.txt; real models: solve
    pick: Literal["first", "random", "shortest"] = "first"
    shard_size: int = Field(64, ge=1)  # problems per resumable shard


class OraclePrompts(Strict):
    """The template (``name`` or ``name@vN`` under qup/prompts/) of each Oracle task."""

    synthesize: str = "synthesize"
    refine: str = "refine"
    style_aligned: str = "style_aligned"
    judge: str = "judge"


class OracleParams(Strict):
    """The Oracle corpora: oracle_synth, oracle_refined and style_aligned."""

    # the SLM trace each refinement starts from: the native corpus's (correct) trace, or a failed
    # sample of the same problem where there is one (repairing real errors), else the native trace
    source: Literal["native", "failed"] = "failed"
    prompts: OraclePrompts = OraclePrompts()
    temperature: float = Field(0.0, ge=0)
    max_new_tokens: int = Field(1024, ge=1)
    judge: bool = True  # rate semantic preservation of each kept refinement with the judge prompt
    # drift guard: refinements whose normalised edit distance to their source trace is above this are dropped
    style_aligned_max_edit: float | None = Field(0.5, ge=0, le=1)
    refined_max_edit: float | None = Field(None, ge=0, le=1)
    shard_size: int = Field(64, ge=1)
    # stop an Oracle stage, keeping every finished shard, before its estimated cost (USD, at costs.prices)
    # passes this; None: no limit
    max_cost: float | None = Field(None, gt=0)
