"""vLLM two ways. In this process (``VLLMEngine``, where vllm is importable): the offline ``LLM``, the chat template
applied once, n samples per prompt, stopping on every end-of-turn id (``qup.chat.end_of_turn_ids``); an aborted
request keeps finish reason "abort". As a server (``VLLMServerEngine``, ``vllm.python`` or ``vllm.url`` set):
qup launches vLLM's OpenAI-compatible server from another Python (a serving venv), with LoRA enabled and runtime
adapter loading allowed, or reaches one at ``url``, and drives it through the ``openai`` engine (the model checked,
its end-of-turn ids as stops, an adapter loaded by a name of its own); the server is stopped however the stage
ends, and one that dies mid-run ends it with a ``ServerFailed`` naming its log.
"""

from __future__ import annotations

from qup.chat import end_of_turn_ids, prompt_ids
from qup.engines.base import Completion, Conversation, EngineBase, Sampling, request_seed
from qup.engines.identity import lora_shape
from qup.engines.server import ManagedServer, free_port, vllm_server_command


class VLLMEngine(EngineBase):
    """Generation with ``vllm.LLM`` and one ``SamplingParams(n=..., seed=...)`` per prompt."""

    name = "vllm"

    def __init__(self, model: str, *, dtype: str = "auto", gpu_memory_utilization: float = 0.9,
                 tensor_parallel_size: int = 1, max_model_len: int | None = None, enable_lora: bool = False,
                 progress: bool = True, adapter: str | None = None, max_lora_rank: int = 64):
        try:
            from vllm import LLM
            from vllm.lora.request import LoRARequest
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(f"{err}: vLLM is not installed in this Python; set vllm.python to a Python "
                                      "that has it (e.g. .venv-serve/bin/python, scripts/serving/setup.sh) to "
                                      "run it as a server") from err

        self.model = model
        self.llm = LLM(model=model, dtype=dtype, gpu_memory_utilization=gpu_memory_utilization,
                       tensor_parallel_size=tensor_parallel_size, max_model_len=max_model_len,
                       enable_lora=enable_lora or adapter is not None, max_lora_rank=max_lora_rank)
        self.lora = LoRARequest("adapter", 1, adapter) if adapter is not None else None
        self.tokenizer = self.llm.get_tokenizer()
        self.stop_ids = end_of_turn_ids(self.tokenizer, model)
        self.progress = progress

    def encode(self, conversation: Conversation) -> list[int]:
        return prompt_ids(self.tokenizer, conversation)

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        seeds = list(range(len(conversations))) if seeds is None else seeds
        greedy = sampling.temperature == 0
        prompts, params = [], []
        for conversation, seed in zip(conversations, seeds):
            ids = self.encode(conversation)
            # vLLM rejects n > 1 with greedy decoding: ask for copies instead
            for j in range(n if greedy else 1):
                prompts.append(TokensPrompt(prompt_token_ids=ids))
                params.append(SamplingParams(n=1 if greedy else n, temperature=sampling.temperature,
                                             top_p=sampling.top_p, max_tokens=sampling.max_new_tokens,
                                             seed=request_seed(sampling.seed, seed, j),
                                             stop_token_ids=list(self.stop_ids)))
        outputs = self.llm.generate(prompts, params, use_tqdm=self.progress, lora_request=self.lora)
        flat = [completion(o, len(request.prompt_token_ids)) for request in outputs for o in request.outputs]
        return [flat[i * n:(i + 1) * n] for i in range(len(conversations))]


class VLLMServerEngine(EngineBase):
    """Generation through a vLLM OpenAI-compatible server that qup launches from ``python`` or reaches at ``url``."""

    name = "vllm"

    def __init__(self, model: str, *, entry: dict, python: str | None = None, url: str | None = None,
                 port: int | None = None, dtype: str = "auto", gpu_memory_utilization: float = 0.9,
                 tensor_parallel_size: int = 1, max_model_len: int | None = None, enable_lora: bool = False,
                 max_lora_rank: int = 64, env: dict | None = None, extra_args: list[str] | None = None,
                 startup_timeout: float = 600, concurrency: int = 16, request_timeout: float = 600,
                 seeded: bool = True, progress: bool = True, adapter: str | None = None,
                 lora_adapters: list[str] | None = None):
        """``entry``: the manifest entry of ``model``, which the server must serve; ``lora_adapters``: adapters
        a server qup launches must be able to load later (``qup.engines.shared_server``)."""
        from qup.engines.api import OpenAIEngine

        self.model, self.server = model, None
        if url is None:
            adapters = [*(lora_adapters or []), *([adapter] if adapter else [])]
            rank = max(max_lora_rank, lora_shape(adapters)[0]) if adapters else max_lora_rank
            port = port or free_port()
            cmd = vllm_server_command(model, python=python, port=port, dtype=dtype,
                                      gpu_memory_utilization=gpu_memory_utilization,
                                      tensor_parallel_size=tensor_parallel_size, max_model_len=max_model_len,
                                      enable_lora=enable_lora or bool(adapters), max_lora_rank=rank,
                                      extra_args=extra_args)
            self.server = ManagedServer(cmd, port, startup_timeout=startup_timeout, name="vllm",
                                        env={"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", **(env or {})})
            url = self.server.url
        self.url = url.rstrip("/")
        try:
            self.client = OpenAIEngine(None, base_url=f"{self.url}/v1", api_key_env=None, concurrency=concurrency,
                                       max_retries=2, timeout=request_timeout, seeded=seeded, progress=progress,
                                       entry=entry, adapter=adapter)
        except BaseException:
            self.close()
            raise
        self.stop_ids = self.client.stop_ids

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        try:
            return self.client.generate(conversations, n, sampling, seeds)
        except Exception as err:
            if self.server is not None and self.server.exited(grace=2.0):
                raise self.server.failure(f"died mid-run (exit code {self.server.process.returncode}; {err})") \
                    from err
            raise

    def close(self) -> None:
        try:
            if getattr(self, "client", None) is not None:
                self.client.close()
        finally:
            if self.server is not None:
                self.server.stop()


def completion(output, prompt_tokens: int) -> Completion:
    """One vLLM ``CompletionOutput`` with its true finish reason (an abort's text says so)."""
    if output.finish_reason == "abort":
        return Completion("aborted: vLLM dropped the request", len(output.token_ids), "abort",
                          prompt_tokens=prompt_tokens)
    return Completion(output.text, len(output.token_ids), "length" if output.finish_reason == "length" else "stop",
                      prompt_tokens=prompt_tokens)
