"""Typed, validated params: the one place that reads ``params.yaml``, a module per section.

The defaults equal params.yaml (a test holds them together), so ``Params()`` is the embedded
study and a test can build a variant with ``model_copy``. Every section's class is importable
from here.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError, model_validator

from qup.config.base import Strict
from qup.config.corpora import (
    DEFAULT_CORPORA,
    DERIVED_KINDS,
    CorpusSpec,
    MixCorpus,
    NativeCorpus,
    NativeParams,
    OracleCorpus,
    OracleParams,
    ReferenceCorpus,
    SelectCorpus,
    SelfRewriteCorpus,
    check_corpora,
    with_role,
)
from qup.config.costs import CostParams, Price
from qup.config.engines import (
    REMOTE_ENGINES,
    EngineParams,
    EnginesParams,
    HFOptions,
    OpenAIOptions,
    SGLangOptions,
    SymbolicOptions,
    VLLMOptions,
)
from qup.config.evaluation import BENCHMARK_PRESETS, BenchmarkRef, EvaluateParams
from qup.config.models import EvalParams, HeadRMParams, ModelRef, ModelsParams
from qup.config.problems import DecontaminateParams, FileSource, HubSourceParams, ProblemsParams
from qup.config.scoring import RewardModelRef, ScoringParams
from qup.config.training import TrainParams
from qup.toy.params import ToyParams, ToyRMParams, ToySLMParams

__all__ = ["BENCHMARK_PRESETS", "BenchmarkRef", "CorpusSpec", "CostParams", "DEFAULT_CORPORA", "DERIVED_KINDS",
           "DecontaminateParams",
           "EngineParams", "EnginesParams", "EvalParams", "EvaluateParams", "FileSource", "HFOptions",
           "HeadRMParams", "HubSourceParams", "MixCorpus", "ModelRef", "ModelsParams", "NativeCorpus", "NativeParams",
           "OpenAIOptions", "OracleCorpus", "OracleParams", "Params", "ParamsError", "Price",
           "ProblemsParams", "ReferenceCorpus", "RewardModelRef", "SGLangOptions", "ScoringParams", "SelectCorpus",
           "SelfRewriteCorpus",
           "Strict", "SymbolicOptions", "ToyParams", "ToyRMParams", "ToySLMParams", "TrainParams",
           "VLLMOptions", "assignments", "check_corpora", "load_params", "merged", "overrides", "read_yaml",
           "with_role"]


class Params(Strict):
    seed: int = 0
    problems: ProblemsParams = ProblemsParams()
    toy: ToyParams = ToyParams()
    models: ModelsParams = ModelsParams()
    engines: EnginesParams = EnginesParams()
    native: NativeParams = NativeParams()
    oracle: OracleParams = OracleParams()
    corpora: dict[str, CorpusSpec] = DEFAULT_CORPORA  # every corpus the study builds, scores, trains on, evaluates
    scoring: ScoringParams = ScoringParams()
    train: TrainParams = TrainParams()
    decontaminate: DecontaminateParams = DecontaminateParams()
    evaluate: EvaluateParams = EvaluateParams()
    costs: CostParams = CostParams()

    @model_validator(mode="after")
    def _corpora_valid(self):
        check_corpora(self.corpora, [r.column.removeprefix("reward_") for r in self.scoring.reward_models])
        return self

    @model_validator(mode="after")
    def _oracle_head_needs_the_oracles_weights(self):
        if any(r.name == "oracle_head" for r in self.scoring.reward_models) and \
                self.engines.oracle.engine in REMOTE_ENGINES:
            raise ValueError(f"scoring.reward_models: oracle_head fits a head on the Oracle's weights, but "
                             f"engines.oracle.engine {self.engines.oracle.engine} serves it with none here")
        return self

    @model_validator(mode="after")
    def _no_toy_part_beside_a_real_slm(self):
        """The toy world's reward model, prompt and Oracle know only toy problems: beside a real SLM they would
        give figures that look like results and mean nothing."""
        if self.models.slm.name == "toy":
            return self
        toy = [f"scoring.reward_models[{i}].name: toy" for i, ref in enumerate(self.scoring.reward_models)
               if ref.name == "toy"]
        toy += [key for key, on in (("native.prompt: toy_solve", self.native.prompt == "toy_solve"),
                                    ("models.oracle.name: symbolic", self.models.oracle.name == "symbolic"),
                                    ("engines.oracle.engine: symbolic", self.engines.oracle.engine == "symbolic"))
                if on]
        if toy:
            raise ValueError(f"models.slm.name is {self.models.slm.name!r}, a real model, but {'; '.join(toy)} "
                             "belong to the toy world; name real ones (see docs/real-models.md)")
        return self


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or invalid."""


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping from ``path``; errors name the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as err:
        raise ParamsError(f"{path}: no such file") from err
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of params, got {type(raw).__name__}")
    return raw


REPLACED = ("corpora",)  # top-level sections an overlay replaces whole: a preset names every corpus it builds


def merged(base: dict, overlay: dict, *, top: bool = True) -> dict:
    """``base`` with ``overlay`` on top: mappings merge key by key, anything else (lists too) replaces, and so
    does a section of ``REPLACED``."""
    out = dict(base)
    for key, value in overlay.items():
        deep = isinstance(value, dict) and isinstance(base.get(key), dict) and not (top and key in REPLACED)
        out[key] = merged(base[key], value, top=False) if deep else value
    return out


def overrides(overlay: dict, prefix: str = "", base: dict | None = None) -> list[str]:
    """An overlay as ``dvc exp run -S`` overrides, one per leaf (``key.path=value``, the value in YAML flow style).
    A section of ``REPLACED`` drops every entry of ``base`` (``~key.entry``) and adds the overlay's (``+``)."""
    flags = []
    for key, value in overlay.items():
        name = f"{prefix}{key}"
        if not prefix and key in REPLACED and isinstance(value, dict):
            flags += [f"~{name}.{entry}" for entry in (base or {}).get(key) or {}]
            flags += [f"+{name}.{entry}={_flow(spec)}" for entry, spec in value.items()]
        elif isinstance(value, dict) and value:
            flags += overrides(value, f"{name}.")
        else:
            flags.append(f"{name}={_flow(value)}")
    return flags


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def assignments(flags: list[str]) -> dict:
    """``key.path=value`` overrides (as ``dvc exp run -S`` takes them, values in YAML) as a nested overlay."""
    overlay: dict = {}
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep or not key:
            raise ParamsError(f"{flag!r}: expected KEY=VALUE, e.g. native.k=8")
        *parents, leaf = key.split(".")
        node = overlay
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return overlay


def load_params(path: str | Path = "params.yaml", overlays: list[str | Path] = (), sets: list[str] = ()) -> Params:
    """Read and validate ``path``, with each overlay file (a preset) merged on top in order, then the ``sets``
    (``key.path=value``); errors name the file and each offending key."""
    raw = read_yaml(path)
    for overlay in overlays:
        raw = merged(raw, read_yaml(overlay))
    raw = merged(raw, assignments(list(sets)))
    where = " + ".join(str(p) for p in [path, *overlays, *sets])
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors()
        )
        raise ParamsError(f"{where}: {problems}") from err
