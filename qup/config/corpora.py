"""Params of the corpora: native rejection sampling and the Oracle's corpora."""

from __future__ import annotations

import re
from typing import Annotated, Literal

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


class OracleParams(Strict):
    """What every Oracle corpus shares: how the Oracle is asked, judged, sharded and budgeted."""

    temperature: float = Field(0.0, ge=0)
    max_new_tokens: int = Field(1024, ge=1)
    judge_prompt: str = "judge"  # rates a refinement's semantic preservation (1-5), for corpora with judge: true
    shard_size: int = Field(64, ge=1)
    # stop an Oracle stage, keeping every finished shard, before its estimated cost (USD, at costs.prices)
    # passes this; None: no limit
    max_cost: float | None = Field(None, gt=0)


class NativeCorpus(Strict):
    """The SLM's own correct samples: one per solved problem, picked by ``native.pick`` (rejection sampling)."""

    kind: Literal["native"] = "native"


class OracleCorpus(Strict):
    """The Oracle answers a prompt over the shared problem set: from the question alone (``source: null``) or
    rewriting the SLM's trace of each problem (``source``). For the toy world's symbolic Oracle, a prompt's
    name starts with what it asks for: ``synthesize``, ``refine`` or ``style_aligned``."""

    kind: Literal["oracle"] = "oracle"
    prompt: str = Field(pattern=r"^[a-z_]+(@v\d+)?$")  # qup/prompts/<name>.v<N>.txt; name@vN pins a version
    # the SLM trace a refinement starts from: the native corpus's (correct) trace, or a failed sample of the same
    # problem where there is one (repairing real errors), else the native trace; None: no trace
    source: Literal["native", "failed"] | None = None
    max_edit: float | None = Field(None, ge=0, le=1)  # drift guard: drop refinements further than this from source
    judge: bool = True  # rate each kept refinement's semantic preservation with oracle.judge_prompt
    # in the verdict: an Oracle corpus the paradox is tested on, the remedy, or neither
    role: Literal["oracle", "remedy", "other"] = "oracle"


class ReferenceCorpus(Strict):
    """The dataset's own written solutions of the shared problems."""

    kind: Literal["reference"] = "reference"


CorpusSpec = Annotated[NativeCorpus | OracleCorpus | ReferenceCorpus, Field(discriminator="kind")]

DEFAULT_CORPORA: dict[str, CorpusSpec] = {
    "native": NativeCorpus(),
    "oracle_refined": OracleCorpus(prompt="refine", source="failed"),
    "oracle_synth": OracleCorpus(prompt="synthesize"),
    "style_aligned": OracleCorpus(prompt="style_aligned", source="failed", max_edit=0.5, role="remedy"),
    "reference": ReferenceCorpus(),
}


def check_corpora(corpora: dict[str, CorpusSpec]) -> None:
    """Names DVC and the report can carry, one native corpus under its own name, at most one remedy,
    and prompts that exist; errors name the corpus and its key."""
    from qup.prompts import load_prompt

    for name, spec in corpora.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"corpora.{name}: a corpus name is lowercase letters, digits and _")
        if spec.kind == "native" and name != "native":
            raise ValueError(f"corpora.{name}: kind native is the corpus named native (the report's anchor)")
        if spec.kind == "oracle":
            try:
                load_prompt(spec.prompt)
            except ValueError as err:
                raise ValueError(f"corpora.{name}.prompt: {err}") from None
            if spec.source is None and spec.max_edit is not None:
                raise ValueError(f"corpora.{name}.max_edit: a drift guard needs a source trace (set source)")
    remedies = [name for name, spec in corpora.items() if getattr(spec, "role", None) == "remedy"]
    if len(remedies) > 1:
        raise ValueError(f"corpora: the verdict tests one remedy, but {', '.join(remedies)} have role remedy")


def with_role(corpora: dict[str, CorpusSpec], role: str) -> list[str]:
    """The Oracle corpora of ``role`` (oracle, remedy, other), in params order."""
    return [name for name, spec in corpora.items() if getattr(spec, "role", None) == role]
