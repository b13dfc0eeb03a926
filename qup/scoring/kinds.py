"""Reward-model kinds: how the reward_model stage prepares each, and where the score stages find it.

``scoring.reward_models[].name`` names a kind of ``KINDS``, which the reward_model stage trains into its
output ``data/reward_model``, or else a model of its own, a hub id or a local directory (``HUB``), which that
stage pins (the hub's commit, a directory's content hash) so that every score stage loads the same model.
A new kind is one entry of ``KINDS``; the toy world's imports its modules only when it trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from qup import paths
from qup.config import ModelRef, Params, RewardModelRef
from qup.digests import directory_digest
from qup.manifest import reward_entry, slm_entry
from qup.models import ModelUnavailable, resolve_model, resolve_oracle
from qup.prompts import load_prompt
from qup.scoring.head_rm import train_head_reward_model


@dataclass(frozen=True)
class RewardModelKind:
    """``locate``: a reward model's weights and the revision that keys its cached scores.
    ``train``: fits the model into the reward_model stage's output folder (given) and returns its metrics;
    None when there is nothing to make. ``headline``: the metric that stage's summary line shows.
    ``pin``: the manifest entry the reward_model stage records for a model it does not make; None: none."""

    locate: Callable[[RewardModelRef], tuple[str, str]]
    train: Callable[[Params, Path], dict] | None = None
    headline: str | None = None
    pin: Callable[[RewardModelRef], dict] | None = None


def trained_in(folder: Path) -> Callable[[RewardModelRef], tuple[str, str]]:
    """``locate`` for a model the reward_model stage saves to ``folder``: its content is its revision."""
    return lambda ref: (str(folder), directory_digest(folder))


def train_toy(params: Params, out: Path) -> dict:
    """The toy world's reward model, trained on toy problems outside the train and test splits."""
    from qup.toy.tokenizer import build_char_tokenizer
    from qup.toy.train_rm import train_reward_model

    questions = set(pl.read_parquet(paths.TRAIN_PROBLEMS)["question"]) | set(
        pl.read_parquet(paths.TEST_PROBLEMS)["question"])
    tokenizer = build_char_tokenizer()
    model, metrics = train_reward_model(tokenizer, params.models.toy_rm, params.toy, seed=params.seed,
                                        exclude=questions)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return metrics


def fit_slm_head(params: Params, out: Path) -> dict:
    """The SLM with a head fitted on its graded native samples."""
    head = train_head_reward_model(
        slm_entry()["path"], pl.read_parquet(paths.NATIVE_SAMPLES), pl.read_parquet(paths.TRAIN_PROBLEMS),
        load_prompt(params.native.prompt), out / paths.SLM_HEAD_RM.name,
        params.models.head_rm, seed=params.seed)
    return {f"slm_head_{key}": value for key, value in head.items()}


def fit_oracle_head(params: Params, out: Path) -> dict:
    """The Oracle's body with a head fitted on the SLM's graded native samples: a second reward model, from
    another (larger) body, to cross-check what ``slm_head`` says."""
    oracle = resolve_oracle(params.models.oracle, params.engines.oracle.engine)  # Params refused a remote one
    head = train_head_reward_model(
        oracle["path"], pl.read_parquet(paths.NATIVE_SAMPLES), pl.read_parquet(paths.TRAIN_PROBLEMS),
        load_prompt(params.native.prompt), out / paths.ORACLE_HEAD_RM.name, params.models.head_rm, seed=params.seed)
    return {f"oracle_head_{key}": value for key, value in head.items()}


KINDS: dict[str, RewardModelKind] = {
    "toy": RewardModelKind(trained_in(paths.REWARD_MODEL), train_toy, "rm_right_over_wrong"),
    "slm_head": RewardModelKind(trained_in(paths.SLM_HEAD_RM), fit_slm_head, "slm_head_rm_right_over_wrong"),
    "oracle_head": RewardModelKind(trained_in(paths.ORACLE_HEAD_RM), fit_oracle_head,
                                   "oracle_head_rm_right_over_wrong"),
}


def resolved(ref: RewardModelRef) -> dict:
    """A hub id or a local directory, resolved as the models stage resolves models, with its label."""
    try:
        entry = resolve_model("reward", ModelRef(name=ref.name, revision=ref.revision, dtype=ref.dtype),
                              remote_code=ref.trust_remote_code)
    except ModelUnavailable as err:
        raise ModelUnavailable(f"{err} (or name a reward model qup trains: {', '.join(KINDS)})") from err
    return {**entry, "label": ref.column.removeprefix("reward_"), "trust_remote_code": ref.trust_remote_code}


def pinned(ref: RewardModelRef) -> tuple[str, str]:
    """Where the reward_model stage pinned a hub or local reward model, and its revision."""
    entry = reward_entry(ref.name, ref.column.removeprefix("reward_"))
    return entry["path"], entry["revision"]


HUB = RewardModelKind(pinned, pin=resolved)


def kind_of(ref: RewardModelRef) -> RewardModelKind:
    """The kind ``ref`` names: a kind of ``KINDS``, else ``HUB``."""
    return KINDS.get(ref.name, HUB)


def pins(refs: list[RewardModelRef]) -> list[dict]:
    """The manifest entries of the reward models among ``refs`` that qup does not make, in params order."""
    return [kind_of(ref).pin(ref) for ref in refs if kind_of(ref).pin is not None]


def to_train(refs: list[RewardModelRef]) -> dict[str, RewardModelKind]:
    """The kinds among ``refs`` that the reward_model stage trains, in ``KINDS`` order."""
    named = {ref.name for ref in refs}
    return {name: kind for name, kind in KINDS.items() if kind.train is not None and name in named}
