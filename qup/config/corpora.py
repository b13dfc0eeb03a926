"""Params of the corpora: native rejection sampling, the Oracle's corpora, and the corpora derived from others."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from qup.config.base import Strict

# kinds built from other corpora (stage corpus@<name>, after every candidates@ stage); the rest are built from the
# SLM's samples, the Oracle or the dataset (stage candidates@<name>)
DERIVED_KINDS = ("select", "mix", "self_rewrite")


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


class Derived(Strict):
    """A corpus drawn from other corpora; ``lambda`` and ``from`` are read under those names."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)


class SelectCorpus(Derived):
    """Per shared problem, of every correct candidate trace (each native sample, each trace of the other corpora),
    the one maximising ``z(reward) - lambda * z(NLL per token under the SLM)``, z-scored over all candidates of the
    run: lambda 0 picks by reward, a large lambda by the SLM's likelihood (GRAPE)."""

    kind: Literal["select"] = "select"
    lam: float = Field(1.0, ge=0, alias="lambda")
    reward_model: str | None = None  # a label in scoring.reward_models; None: the first (the report's primary)
    # the corpora it draws from (native: all of the SLM's correct samples); None: every corpus of kind native,
    # oracle or reference
    pool: list[str] | None = Field(None, alias="from", min_length=1)


class MixCorpus(Derived):
    """Of the problems both corpora of ``of`` cover, an exact seeded share (rounded) takes the first one's trace,
    the rest the second's (Mix distillation)."""

    kind: Literal["mix"] = "mix"
    of: list[str] = Field(min_length=2, max_length=2)
    share: float = Field(0.5, ge=0, le=1)


class SelfRewriteCorpus(Derived):
    """The SLM rewrites each trace of corpus ``from`` (an Oracle corpus) in its own words; a rewrite whose answer
    matches the gold is kept, else the original trace (SDFT). Needs an SLM that follows instructions (not the toy)."""

    kind: Literal["self_rewrite"] = "self_rewrite"
    source: str = Field(alias="from")
    prompt: str = Field("self_rewrite", pattern=r"^[a-z_]+(@v\d+)?$")
    temperature: float = Field(0.0, ge=0)
    max_new_tokens: int | None = Field(None, ge=1)  # None: oracle.max_new_tokens (the length of an Oracle trace)


CorpusSpec = Annotated[NativeCorpus | OracleCorpus | ReferenceCorpus | SelectCorpus | MixCorpus | SelfRewriteCorpus,
                       Field(discriminator="kind")]

DEFAULT_CORPORA: dict[str, CorpusSpec] = {
    "native": NativeCorpus(),
    "oracle_refined": OracleCorpus(prompt="refine@v1", source="failed"),
    "oracle_synth": OracleCorpus(prompt="synthesize@v1"),
    "style_aligned": OracleCorpus(prompt="style_aligned@v1", source="failed", max_edit=0.5, role="remedy"),
    "reference": ReferenceCorpus(),
}


def drawn_from(name: str, spec: CorpusSpec, corpora: dict[str, CorpusSpec]) -> list[str]:
    """The corpora a derived corpus draws from, in params order for select's default pool; [] for the others."""
    if spec.kind == "select":
        return spec.pool if spec.pool is not None else [n for n, s in corpora.items() if s.kind not in DERIVED_KINDS]
    if spec.kind == "mix":
        return list(spec.of)
    if spec.kind == "self_rewrite":
        return [spec.source]
    return []


def _check_derived(corpora: dict[str, CorpusSpec], reward_labels: list[str] | None) -> None:
    """Sources that exist, no corpus drawn from itself (directly or through others), and a reward model for select."""
    from qup.prompts import load_prompt

    key = {"select": "from", "mix": "of", "self_rewrite": "from"}
    for name, spec in corpora.items():
        if spec.kind not in DERIVED_KINDS:
            continue
        sources = drawn_from(name, spec, corpora)
        for source in sources:
            if source not in corpora:
                raise ValueError(f"corpora.{name}.{key[spec.kind]}: unknown corpus {source!r}; params corpora: "
                                 f"{', '.join(corpora)}")
        if len(set(sources)) != len(sources):
            raise ValueError(f"corpora.{name}.{key[spec.kind]}: a corpus named twice ({', '.join(sources)})")
        if "native" not in corpora:
            raise ValueError(f"corpora.{name}: a {spec.kind} corpus is built over the shared problem set, which "
                             "the corpus named native defines; declare it")
        if spec.kind == "select" and reward_labels is not None:
            if not reward_labels:
                raise ValueError(f"corpora.{name}: kind select scores candidates with a reward model, and "
                                 "scoring.reward_models is empty")
            if spec.reward_model is not None and spec.reward_model not in reward_labels:
                raise ValueError(f"corpora.{name}.reward_model: no reward model labelled {spec.reward_model!r} in "
                                 f"scoring.reward_models; labels: {', '.join(reward_labels)}")
        if spec.kind == "self_rewrite":
            try:
                load_prompt(spec.prompt)
            except ValueError as err:
                raise ValueError(f"corpora.{name}.prompt: {err}") from None
    for name in corpora:
        _no_cycle(name, corpora, [])


def _no_cycle(name: str, corpora: dict[str, CorpusSpec], path: list[str]) -> None:
    if name in path:
        loop = " -> ".join([*path[path.index(name):], name])
        raise ValueError(f"corpora.{path[path.index(name)]}: derived corpora draw from each other in a cycle: {loop}")
    for source in drawn_from(name, corpora[name], corpora):
        _no_cycle(source, corpora, [*path, name])


def check_corpora(corpora: dict[str, CorpusSpec], reward_labels: list[str] | None = None) -> None:
    """Names DVC and the report can carry, one native corpus under its own name, at most one remedy,
    prompts that exist, and derived corpora drawn from corpora that exist, never from themselves, select's
    reward model among ``reward_labels`` (``scoring.reward_models``' labels; None: unchecked); errors name the
    corpus and its key."""
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
    _check_derived(corpora, reward_labels)
    remedies = [name for name, spec in corpora.items() if getattr(spec, "role", None) == "remedy"]
    if len(remedies) > 1:
        raise ValueError(f"corpora: the verdict tests one remedy, but {', '.join(remedies)} have role remedy")


def with_role(corpora: dict[str, CorpusSpec], role: str) -> list[str]:
    """The Oracle corpora of ``role`` (oracle, remedy, other), in params order."""
    return [name for name, spec in corpora.items() if getattr(spec, "role", None) == role]
