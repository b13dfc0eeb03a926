"""SGLang: qup launches ``sglang.launch_server`` (or the data-parallel router) or connects to a URL.

The client side needs no SGLang install: the server may run from another Python (``python`` in
params, e.g. a separate serving venv). Prompts go to the native ``/generate`` API as token ids
(the chat template applied once, here), k copies of a prompt per request as SGLang's docs advise
over ``n>1``, with at most ``concurrency`` requests in flight, stopping on every end-of-turn id
(``qup.chat.end_of_turn_ids``). A request the server refuses (HTTP 400, say) or aborts is recorded as
failed (``Completion.finish_reason`` "error" or "abort", the server's message as its text) and the rest go
on. A server qup started is stopped on exit, on error and on Ctrl-C; one at ``url`` is checked to serve
the model (``qup.engines.identity``), and an adapter is loaded on it under a name of its own and unloaded
on exit.
"""

from __future__ import annotations

import sys
import urllib.error
from concurrent.futures import ThreadPoolExecutor

from qup.chat import end_of_turn_ids, prompt_ids
from qup.engines.base import SOFT_FAIL_STATUSES, Completion, Conversation, EngineBase, Sampling, failed, request_seed
from qup.engines.identity import adapter_name, check_loaded, check_served
from qup.engines.server import ManagedServer, free_port, get_json, http_error_message, post_json
from qup.progress import progress


def sglang_command(model_path: str, *, python: str, port: int, device: str | None = None, tp_size: int = 1,
                   dp_size: int = 1, router: bool = True, mem_fraction: float | None = None,
                   max_running_requests: int | None = None, lora_paths: list[str] | None = None,
                   deterministic: bool = False, extra_args: list[str] | None = None) -> list[str]:
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
    if deterministic:  # batch-invariant kernels: a seeded request samples the same tokens in any batch
        cmd += ["--enable-deterministic-inference"]
    return cmd + list(extra_args or [])


class SGLangEngine(EngineBase):
    """Generation through an SGLang server's native ``/generate`` API."""

    name = "sglang"

    def __init__(self, model: str, *, url: str | None = None, python: str | None = None, port: int | None = None,
                 device: str | None = None, tp_size: int = 1, dp_size: int = 1, router: bool = True,
                 mem_fraction: float | None = None, max_running_requests: int | None = None,
                 lora_paths: list[str] | None = None, deterministic: bool = False, extra_args: list[str] | None = None,
                 startup_timeout: float = 600, concurrency: int = 32, request_timeout: float = 600,
                 progress: bool = True, adapter: str | None = None, entry: dict | None = None):
        """``entry``: the manifest entry ``model`` (its directory) comes from, which a server at ``url`` must
        serve (default: that directory)."""
        from transformers import AutoTokenizer

        self.model = model
        self.tokenizer = AutoTokenizer.from_pretrained(self.model)
        self.stop_ids = end_of_turn_ids(self.tokenizer)
        self.concurrency, self.request_timeout, self.progress = concurrency, request_timeout, progress
        self.server: ManagedServer | None = None
        self.lora_name = adapter_name(adapter) if adapter is not None else None  # named in every request
        self._loaded = False  # whether this engine loaded its adapter on a running server
        if url is None:
            if adapter is not None:
                lora_paths = [*(lora_paths or []), f"{self.lora_name}={adapter}"]
            port = port or free_port()
            cmd = sglang_command(self.model, python=python or sys.executable, port=port, device=device,
                                 tp_size=tp_size, dp_size=dp_size, router=router, mem_fraction=mem_fraction,
                                 max_running_requests=max_running_requests, lora_paths=lora_paths,
                                 deterministic=deterministic, extra_args=extra_args)
            self.server = ManagedServer(cmd, port, startup_timeout=startup_timeout)
            url = self.server.url
        self.url = url.rstrip("/")
        if self.server is None:
            self._check_running_server(entry or {"id": model, "path": model}, deterministic, adapter)

    def _check_running_server(self, model: dict, deterministic: bool, adapter: str | None) -> None:
        """A server qup did not start: it must serve ``model`` (and deterministically, when asked); the
        adapter is loaded on it."""
        check_served(self.url, [get_json(f"{self.url}/get_model_info", self.request_timeout)["model_path"]], model)
        if deterministic and not get_json(f"{self.url}/get_server_info", self.request_timeout).get(
                "enable_deterministic_inference"):
            raise RuntimeError(f"sglang.deterministic is set, but the server at {self.url} runs without "
                               "--enable-deterministic-inference")
        if adapter is not None:
            check_loaded(post_json(f"{self.url}/load_lora_adapter",
                                   {"lora_name": self.lora_name, "lora_path": adapter}, self.request_timeout),
                         f"loading the adapter {adapter} on {self.url}")
            self._loaded = True

    def close(self) -> None:
        if self._loaded:
            self._loaded = False
            check_loaded(post_json(f"{self.url}/unload_lora_adapter", {"lora_name": self.lora_name},
                                   self.request_timeout), f"unloading the adapter {self.lora_name} from {self.url}")
        if self.server is not None:
            self.server.stop()

    def encode(self, conversation: Conversation) -> list[int]:
        return prompt_ids(self.tokenizer, conversation)

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        """``n`` completions per conversation. Each copy carries its own ``sampling_seed``, which
        SGLang honours when the server runs with ``--enable-deterministic-inference``."""
        params = {"temperature": sampling.temperature, "top_p": sampling.top_p,
                  "max_new_tokens": sampling.max_new_tokens, "stop_token_ids": list(self.stop_ids)}
        prompts = [self.encode(c) for c in conversations]
        seeds = list(range(len(prompts))) if seeds is None else seeds

        def one(job: tuple[list[int], int]) -> list[Completion]:
            ids, seed = job
            per_copy = [{**params, "sampling_seed": request_seed(sampling.seed, seed, j)} for j in range(n)]
            payload = {"input_ids": [ids] * n, "sampling_params": per_copy}
            if self.lora_name:
                payload["lora_path"] = [self.lora_name] * n
            try:
                outputs = post_json(f"{self.url}/generate", payload, self.request_timeout)
            except urllib.error.HTTPError as err:
                if err.code not in SOFT_FAIL_STATUSES:
                    raise
                return failed(http_error_message(err), "error", n, prompt_tokens=len(ids))
            return [completion(o, len(ids)) for o in outputs]

        results = []
        with ThreadPoolExecutor(self.concurrency) as pool, \
                progress(total=len(prompts) * n, desc=f"generate ({self.name})", unit="sample",
                         disable=not self.progress) as bar:
            for completions in pool.map(one, zip(prompts, seeds)):
                results.append(completions)
                bar.update(n)
        return results


def completion(output: dict, prompt_tokens: int) -> Completion:
    """One ``/generate`` output as a completion, with its true finish reason (an abort's text is its message)."""
    meta = output["meta_info"]
    finish = meta.get("finish_reason") or {}
    if finish.get("type") == "abort":
        return Completion(f"aborted: {finish.get('message') or 'no reason given'}", meta["completion_tokens"],
                          "abort", prompt_tokens=prompt_tokens)
    return Completion(output["text"], meta["completion_tokens"], "length" if finish.get("type") == "length" else "stop",
                      prompt_tokens=prompt_tokens)
