"""SGLang: qup launches ``sglang.launch_server`` (or the data-parallel router) or connects to a URL.

The client side needs no SGLang install: the server may run from another Python (``python`` in
params, e.g. a separate serving venv). Prompts go to the native ``/generate`` API as token ids
(the chat template applied once, here), k copies of a prompt per request as SGLang's docs advise
over ``n>1``, with at most ``concurrency`` requests in flight. A server qup started is stopped on
exit, on error and on Ctrl-C.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from qup.chat import prompt_ids
from qup.engines.base import Completion, Conversation, EngineBase, Sampling, request_seed
from qup.engines.server import ManagedServer, free_port, post_json
from qup.progress import progress


def sglang_command(model_path: str, *, python: str, port: int, device: str | None = None, tp_size: int = 1,
                   dp_size: int = 1, router: bool = True, mem_fraction: float | None = None,
                   max_running_requests: int | None = None, lora_paths: list[str] | None = None,
                   extra_args: list[str] | None = None) -> list[str]:
    """The command line that serves ``model_path`` on 127.0.0.1:``port``.

    With ``dp_size > 1`` and ``router``, SGLang's router launches and balances the replicas,
    which its maintainers recommend over the server's own ``--dp-size``.
    """
    module = "sglang_router.launch_server" if dp_size > 1 and router else "sglang.launch_server"
    cmd = [python, "-m", module, "--model-path", model_path, "--host", "127.0.0.1", "--port", str(port)]
    if device:
        cmd += ["--device", device]
    if tp_size > 1:
        cmd += ["--tp-size", str(tp_size)]
    if dp_size > 1:
        cmd += ["--dp-size", str(dp_size)]
    if mem_fraction is not None:
        cmd += ["--mem-fraction-static", str(mem_fraction)]
    if max_running_requests is not None:
        cmd += ["--max-running-requests", str(max_running_requests)]
    if lora_paths:
        cmd += ["--enable-lora", "--lora-paths", *lora_paths]
    return cmd + list(extra_args or [])


class SGLangEngine(EngineBase):
    """Generation through an SGLang server's native ``/generate`` API."""

    name = "sglang"

    def __init__(self, model: str, *, url: str | None = None, python: str | None = None, port: int | None = None,
                 device: str | None = None, tp_size: int = 1, dp_size: int = 1, router: bool = True,
                 mem_fraction: float | None = None, max_running_requests: int | None = None,
                 lora_paths: list[str] | None = None, extra_args: list[str] | None = None,
                 startup_timeout: float = 600, concurrency: int = 32, request_timeout: float = 600,
                 progress: bool = True, adapter: str | None = None):
        from transformers import AutoTokenizer

        self.model = model
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.concurrency, self.request_timeout, self.progress = concurrency, request_timeout, progress
        self.server: ManagedServer | None = None
        # a LoRA checkpoint is served by name, per request (a server at ``url`` must know it as "adapter")
        self.lora_name = "adapter" if adapter is not None else None
        if adapter is not None:
            lora_paths = [*(lora_paths or []), f"adapter={adapter}"]
        if url is None:
            port = port or free_port()
            cmd = sglang_command(model, python=python or sys.executable, port=port, device=device, tp_size=tp_size,
                                 dp_size=dp_size, router=router, mem_fraction=mem_fraction,
                                 max_running_requests=max_running_requests, lora_paths=lora_paths,
                                 extra_args=extra_args)
            self.server = ManagedServer(cmd, port, startup_timeout=startup_timeout)
            url = self.server.url
        self.url = url.rstrip("/")

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()

    def encode(self, conversation: Conversation) -> list[int]:
        return prompt_ids(self.tokenizer, conversation)

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        """``n`` completions per conversation. Each copy carries its own ``sampling_seed``, which
        SGLang honours when the server runs with ``--enable-deterministic-inference``."""
        params = {"temperature": sampling.temperature, "top_p": sampling.top_p,
                  "max_new_tokens": sampling.max_new_tokens}
        prompts = [self.encode(c) for c in conversations]
        seeds = list(range(len(prompts))) if seeds is None else seeds

        def one(job: tuple[list[int], int]) -> list[Completion]:
            ids, seed = job
            per_copy = [{**params, "sampling_seed": request_seed(sampling.seed, seed, j)} for j in range(n)]
            payload = {"input_ids": [ids] * n, "sampling_params": per_copy}
            if self.lora_name:
                payload["lora_path"] = [self.lora_name] * n
            outputs = post_json(f"{self.url}/generate", payload, self.request_timeout)
            return [Completion(o["text"], o["meta_info"]["completion_tokens"],
                               "length" if o["meta_info"]["finish_reason"]["type"] == "length" else "stop",
                               prompt_tokens=len(ids))
                    for o in outputs]

        results = []
        with ThreadPoolExecutor(self.concurrency) as pool, \
                progress(total=len(prompts) * n, desc=f"generate ({self.name})", unit="sample",
                         disable=not self.progress) as bar:
            for completions in pool.map(one, zip(prompts, seeds)):
                results.append(completions)
                bar.update(n)
        return results
