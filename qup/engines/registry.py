"""Engine name (as written in params) -> a constructor taking a manifest entry and options."""

from __future__ import annotations


def _hf(model: dict, *, progress: bool, batch_size: int, device: str | None, adapter: str | None = None):
    from qup.engines.hf import HFEngine

    return HFEngine(model["path"], dtype=model.get("dtype", "auto"), device=device, batch_size=batch_size,
                    progress=progress, revision=None, adapter=adapter)


def _openai(model: dict, *, progress: bool, model_name: str | None = None, adapter: str | None = None, **options):
    from qup.engines.api import OpenAIEngine

    if adapter is not None:
        raise ValueError(f"the openai engine cannot load the adapter {adapter}: serve it on the server "
                         "(e.g. vLLM's --lora-modules) and name it in openai.model")
    return OpenAIEngine(model_name or model["id"], progress=progress, **options)


def _sglang(model: dict, *, progress: bool, **options):
    from qup.engines.sglang import SGLangEngine

    return SGLangEngine(model["path"], progress=progress, **options)


def _vllm(model: dict, *, progress: bool, **options):
    from qup.engines.vllm import VLLMEngine

    return VLLMEngine(model["path"], progress=progress, **options)


def _symbolic(model: dict, *, progress: bool, adapter: str | None = None):
    from qup.engines.symbolic import SymbolicEngine

    return SymbolicEngine(model["id"], progress=progress)


ENGINES = {"hf": _hf, "openai": _openai, "sglang": _sglang, "vllm": _vllm, "symbolic": _symbolic}
