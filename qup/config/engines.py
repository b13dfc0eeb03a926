"""Which engine serves each role, and every engine's options.

``ENGINE_OPTIONS`` is the registry of engines params can choose: engine name -> its options class.
``EngineParams`` is built from it, so an engine is one options class and one entry here, plus its
builder in ``qup/engines/registry.py`` (kept there so that params never import engine code).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, create_model, model_validator

from qup.config.base import Strict

REMOTE_ENGINES = ("symbolic", "openai")  # engines that serve a model by name, with nothing to load here


class EngineOptions(Strict):
    """One engine's options."""

    def check_chosen(self, engine: str) -> None:
        """Raise ValueError when these options cannot serve as the chosen engine ``engine``'s."""


class HFOptions(EngineOptions):
    """transformers in this process."""

    batch_size: int = Field(64, ge=1)
    device: str | None = None  # None: cuda when available, else cpu
    workers: int = Field(1, ge=1)  # decoding processes forked after the model loads (CPU only): pays for tiny models
    threads: int | None = Field(None, ge=1)  # torch threads; None: torch's default with 1 worker; more workers: 1


class OpenAIOptions(EngineOptions):
    """Any OpenAI-compatible endpoint; the key comes from the environment variable ``api_key_env``."""

    base_url: str | None = None  # required when this engine is chosen
    model: str | None = None  # the server's model name; None: the manifest's id
    api_key_env: str | None = "OPENAI_API_KEY"  # None: a local server that needs no key
    concurrency: int = Field(16, ge=1)
    max_retries: int = Field(6, ge=0)
    timeout: float = Field(120.0, gt=0)
    seeded: bool = True  # send a seed per request (vLLM 0.32's CPU build fails on them under load)

    def check_chosen(self, engine: str) -> None:
        if not self.base_url:
            raise ValueError(f"engine '{engine}' needs {engine}.base_url")


class SGLangOptions(EngineOptions):
    """An SGLang server qup launches (from ``python``, e.g. a serving venv), SGLang's router qup starts in front
    of running ``workers``, or a server or router at ``url``."""

    url: str | None = None  # set: use that server or router; None: launch one on 127.0.0.1
    workers: list[str] = []  # running SGLang servers: qup starts sglang_router (from ``python``) in front of them
    router_policy: Literal["cache_aware", "round_robin", "random", "power_of_two"] = "cache_aware"
    router_args: list[str] = []  # more sglang_router.launch_router flags
    python: str | None = None  # the Python that has sglang; None: this one
    port: int | None = None  # None: a free port
    device: str | None = None  # e.g. cpu
    tp_size: int = Field(1, ge=1)
    dp_size: int = Field(1, ge=1)
    router: bool = True  # dp_size > 1: launch through sglang_router
    mem_fraction: float | None = Field(None, gt=0, le=1)
    max_running_requests: int | None = Field(None, ge=1)
    lora_paths: list[str] = []
    deterministic: bool = False  # --enable-deterministic-inference: seeded samples that batching cannot change
    extra_args: list[str] = []
    startup_timeout: float = Field(600, gt=0)
    concurrency: int = Field(32, ge=1)
    request_timeout: float = Field(600, gt=0)

    def check_chosen(self, engine: str) -> None:
        if self.url and self.workers:
            raise ValueError(f"{engine}.url and {engine}.workers are both set: give a router's url or its workers")

    def launches(self) -> bool:
        """Whether qup launches the model's server (rather than reaching running ones)."""
        return self.url is None and not self.workers

    def reaching(self, url: str) -> SGLangOptions:
        """These options pointed at the running server ``url``."""
        return self.model_copy(update={"url": url, "workers": [], "port": None})


class VLLMOptions(EngineOptions):
    """vLLM in this process, or as an OpenAI-compatible server qup launches from ``python`` or reaches at ``url``."""

    IN_PROCESS: ClassVar[tuple[str, ...]] = ("dtype", "gpu_memory_utilization", "tensor_parallel_size",
                                             "max_model_len", "enable_lora", "max_lora_rank")

    dtype: str = "auto"
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int | None = None
    enable_lora: bool = False
    max_lora_rank: int = Field(64, ge=1)  # the largest LoRA rank an adapter may have
    # server mode: set either, and vLLM runs as a server (the stages need no vllm install of their own)
    python: str | None = None  # the Python that has vllm, e.g. .venv-serve/bin/python: qup launches its server
    url: str | None = None  # a running vLLM server (its root, without /v1)
    port: int | None = None  # None: a free port
    env: dict[str, str] = {}  # the launched server's environment, e.g. VLLM_CPU_KVCACHE_SPACE
    extra_args: list[str] = []
    startup_timeout: float = Field(600, gt=0)
    concurrency: int = Field(16, ge=1)
    request_timeout: float = Field(600, gt=0)
    seeded: bool = True  # send a seed per request (vLLM 0.32's CPU build fails on them under load)

    def server_mode(self) -> bool:
        """Whether vLLM runs as a server (launched from ``python`` or at ``url``) rather than in this process."""
        return bool(self.python or self.url)

    def launches(self) -> bool:
        return self.url is None and bool(self.python)

    def reaching(self, url: str) -> VLLMOptions:
        return self.model_copy(update={"url": url, "port": None})


class SymbolicOptions(EngineOptions):
    """The toy world's Oracle: nothing to set."""


ENGINE_OPTIONS: dict[str, type[EngineOptions]] = {
    "hf": HFOptions,
    "sglang": SGLangOptions,
    "vllm": VLLMOptions,
    "openai": OpenAIOptions,
    "symbolic": SymbolicOptions,
}


class EngineChoice(Strict):
    """What ``EngineParams`` builds on: the chosen engine's name, checked against its options."""

    engine: str
    # the share of a stage's completions that may fail (aborted, filtered, refused by the server) before the stage fails
    max_error_share: float = Field(0.05, ge=0, le=1)

    @model_validator(mode="after")
    def _chosen_options_serve(self):
        self.chosen().check_chosen(self.engine)
        return self

    def chosen(self) -> EngineOptions:
        """The chosen engine's options."""
        return getattr(self, self.engine)


def engine_params_model(engines: dict[str, type[EngineOptions]]) -> type[EngineChoice]:
    """The params class of one role choosing among ``engines``: ``engine``, one of their names (default ``hf``),
    and a field of options named after each engine."""
    options = {name: (cls, cls()) for name, cls in engines.items()}
    return create_model("EngineParams", __base__=EngineChoice, __module__=__name__,
                        __doc__="The engine of one role, and every engine's options, so that ``dvc exp run -S "
                                "engines.slm.engine=sglang`` swaps engines without touching anything else.",
                        engine=(Literal[tuple(engines)], "hf"), **options)


EngineParams = engine_params_model(ENGINE_OPTIONS)


class EnginesParams(Strict):
    """Which engine serves each role."""

    slm: EngineParams = EngineParams(hf=HFOptions(batch_size=64, workers=2))
    oracle: EngineParams = EngineParams(engine="symbolic", hf=HFOptions(batch_size=16))
