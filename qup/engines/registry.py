"""Engine name (as written in params) -> a constructor taking a manifest entry and options."""

from __future__ import annotations


def _hf(model: dict, *, progress: bool, batch_size: int, device: str | None):
    from qup.engines.hf import HFEngine

    return HFEngine(model["path"], dtype=model.get("dtype", "auto"), device=device, batch_size=batch_size,
                    progress=progress, revision=None)


def _openai(model: dict, *, progress: bool, model_name: str | None = None, **options):
    from qup.engines.api import OpenAIEngine

    return OpenAIEngine(model_name or model["id"], progress=progress, **options)


def _sglang(model: dict, *, progress: bool, **options):
    from qup.engines.sglang import SGLangEngine

    return SGLangEngine(model["path"], progress=progress, **options)


def _vllm(model: dict, *, progress: bool, **options):
    from qup.engines.vllm import VLLMEngine

    return VLLMEngine(model["path"], progress=progress, **options)


def _symbolic(model: dict, *, progress: bool):
    from qup.engines.symbolic import SymbolicEngine

    return SymbolicEngine(model["id"], progress=progress)


ENGINES = {"hf": _hf, "openai": _openai, "sglang": _sglang, "vllm": _vllm, "symbolic": _symbolic}
