"""Engine name (as params write it) -> its builder: a manifest entry and the engine's options to an engine.

The names are those of ``qup.config.engines.ENGINE_OPTIONS``; each builder imports its engine's module only
when it is called.
"""

from __future__ import annotations


def _hf(model: dict, options, *, progress: bool, adapter: str | None):
    from qup.engines.hf import HFEngine

    return HFEngine(model["path"], dtype=model.get("dtype", "auto"), device=options.device,
                    batch_size=options.batch_size, progress=progress, revision=None, adapter=adapter,
                    workers=options.workers, threads=options.threads)


def _openai(model: dict, options, *, progress: bool, adapter: str | None):
    from qup.engines.api import OpenAIEngine

    local = bool(model.get("path"))  # weights of our own on the server: checked, and stopped on their end of turn
    if adapter is not None and not local:
        raise ValueError(f"the openai engine cannot load the adapter {adapter} on {model['id']}: the model has no "
                         "local weights to check the server against")
    return OpenAIEngine(options.model or (None if local else model["id"]), progress=progress,
                        entry=model if local else None, adapter=adapter, **options.model_dump(exclude={"model"}))


def _sglang(model: dict, options, *, progress: bool, adapter: str | None, lora_adapters: list[str] | None = None):
    from qup.engines.sglang import SGLangEngine

    return SGLangEngine(model["path"], progress=progress, adapter=adapter, entry=model, lora_adapters=lora_adapters,
                        **options.model_dump())


def _vllm(model: dict, options, *, progress: bool, adapter: str | None, lora_adapters: list[str] | None = None):
    if options.server_mode():
        from qup.engines.vllm import VLLMServerEngine

        return VLLMServerEngine(model["path"], entry=model, progress=progress, adapter=adapter,
                                lora_adapters=lora_adapters, **options.model_dump())
    from qup.engines.vllm import VLLMEngine

    return VLLMEngine(model["path"], progress=progress, adapter=adapter,
                      **options.model_dump(include=set(options.IN_PROCESS)))


def _symbolic(model: dict, options, *, progress: bool, adapter: str | None):
    from qup.engines.symbolic import SymbolicEngine

    return SymbolicEngine(model["id"], progress=progress)


# engines whose server qup launches, and the option that points the next engine at a running one (``url``)
SERVERS = {"sglang": _sglang, "vllm": _vllm}

ENGINES = {"hf": _hf, "sglang": _sglang, "vllm": _vllm, "openai": _openai, "symbolic": _symbolic}
