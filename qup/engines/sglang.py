"""SGLang: qup launches ``sglang.launch_server`` (or the data-parallel router), starts SGLang's router in front of
a list of running workers (``qup.engines.router``), or connects to a URL (a server or a router).

The client side needs no SGLang install: the server may run from another Python (``python`` in
params, e.g. a separate serving venv). Prompts go to the native ``/generate`` API as token ids
(the chat template applied once, here), k copies of a prompt per request as SGLang's docs advise
over ``n>1``, with at most ``concurrency`` requests in flight, stopping on every end-of-turn id
(``qup.chat.end_of_turn_ids``). A request the server refuses (HTTP 400, say) or aborts is recorded as
failed (``Completion.finish_reason`` "error" or "abort", the server's message as its text) and the rest go
on. A server qup started is stopped on exit, on error, on Ctrl-C and on SIGTERM, and one that dies mid-run ends
the stage with a ``ServerFailed`` naming its log; one at ``url`` is checked to serve the model
(``qup.engines.identity``), and an adapter is loaded on it (on each of a router's workers) under a name of its
own and unloaded on exit. Each finished request advances the stage's progress (``qup.progress.advance``).
"""

from __future__ import annotations

import sys
import urllib.error
from concurrent.futures import ThreadPoolExecutor, as_completed

from qup.chat import end_of_turn_ids, prompt_ids
from qup.engines.base import SOFT_FAIL_STATUSES, Completion, Conversation, EngineBase, Sampling, failed, request_seed
from qup.engines.identity import adapter_name, check_loaded, check_served, lora_shape
from qup.engines.router import router_workers, start_router
from qup.engines.server import ManagedServer, free_port, get_json, http_error_message, post_json, request_json
from qup.progress import advance, progress


def sglang_command(model_path: str, *, python: str, port: int, device: str | None = None, tp_size: int = 1,
                   dp_size: int = 1, router: bool = True, mem_fraction: float | None = None,
                   max_running_requests: int | None = None, lora_paths: list[str] | None = None,
                   lora_rank: int | None = None, lora_modules: list[str] | None = None,
                   deterministic: bool = False, extra_args: list[str] | None = None) -> list[str]:
    """The command line that serves ``model_path`` on 127.0.0.1:``port``; ``lora_rank`` and ``lora_modules``
    (no ``lora_paths``) enable LoRA for adapters loaded while it runs.

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
    elif lora_rank is not None:  # adapters loaded later by name: SGLang sizes its LoRA buffers from these
        cmd += ["--enable-lora", "--max-lora-rank", str(lora_rank), "--lora-target-modules", *lora_modules]
    if deterministic:  # batch-invariant kernels: a seeded request samples the same tokens in any batch
        cmd += ["--enable-deterministic-inference"]
    return cmd + list(extra_args or [])


class SGLangEngine(EngineBase):
    """Generation through an SGLang server's native ``/generate`` API."""

    name = "sglang"

    def __init__(self, model: str, *, url: str | None = None, workers: list[str] | None = None,
                 router_policy: str = "cache_aware", router_args: list[str] | None = None,
                 python: str | None = None, port: int | None = None, device: str | None = None,
                 tp_size: int = 1, dp_size: int = 1, router: bool = True,
                 mem_fraction: float | None = None, max_running_requests: int | None = None,
                 lora_paths: list[str] | None = None, deterministic: bool = False, extra_args: list[str] | None = None,
                 startup_timeout: float = 600, concurrency: int = 32, request_timeout: float = 600,
                 progress: bool = True, adapter: str | None = None, entry: dict | None = None,
                 lora_adapters: list[str] | None = None):
        """``workers``: running SGLang servers, behind a router qup starts (from ``python``); ``entry``: the
        manifest entry ``model`` (its directory) comes from, which a server at ``url`` or the workers must serve
        (default: that directory); ``lora_adapters``: adapters a server qup launches must be able to load
        later (``qup.engines.shared_server``)."""
        from transformers import AutoTokenizer

        self.model = model
        self.tokenizer = AutoTokenizer.from_pretrained(self.model)
        self.stop_ids = end_of_turn_ids(self.tokenizer)
        self.concurrency, self.request_timeout, self.progress = concurrency, request_timeout, progress
        self.server: ManagedServer | None = None
        self.lora_name = adapter_name(adapter) if adapter is not None else None  # named in every request
        self._loaded: list[str] = []  # the servers this engine loaded its adapter on
        self.workers: list[str] = []  # a router's workers, where adapters are loaded
        if workers:
            self.server = start_router(workers, python=python or sys.executable, port=port, policy=router_policy,
                                       startup_timeout=startup_timeout, extra_args=router_args)
            url, self.workers = self.server.url, [w.rstrip("/") for w in workers]
        elif url is None:
            if adapter is not None:
                lora_paths = [*(lora_paths or []), f"{self.lora_name}={adapter}"]
            rank, modules = lora_shape(lora_adapters) if lora_adapters and not lora_paths else (None, None)
            port = port or free_port()
            cmd = sglang_command(self.model, python=python or sys.executable, port=port, device=device,
                                 tp_size=tp_size, dp_size=dp_size, router=router, mem_fraction=mem_fraction,
                                 max_running_requests=max_running_requests, lora_paths=lora_paths,
                                 lora_rank=rank, lora_modules=modules, deterministic=deterministic,
                                 extra_args=extra_args)
            self.server = ManagedServer(cmd, port, startup_timeout=startup_timeout, name="sglang")
            url = self.server.url
        else:
            self.workers = router_workers(url.rstrip("/"), request_timeout) or []
        self.url = url.rstrip("/")
        # a router (ours, one a dp_size launch starts, or one at url) takes one prompt per /generate
        self.routed = bool(self.workers) or (self.server is not None and dp_size > 1 and router)
        if self.server is None or self.workers:
            try:
                self._check_running_server(entry or {"id": model, "path": model}, deterministic, adapter)
            except BaseException:
                self.close()
                raise

    def _check_running_server(self, model: dict, deterministic: bool, adapter: str | None) -> None:
        """A server qup did not start: it must serve ``model`` (and deterministically, when asked); the
        adapter is loaded on it."""
        for server in self.workers or [self.url]:
            check_served(server, [get_json(f"{server}/get_model_info", self.request_timeout)["model_path"]], model)
            if deterministic and not get_json(f"{server}/get_server_info", self.request_timeout).get(
                    "enable_deterministic_inference"):
                raise RuntimeError(f"sglang.deterministic is set, but the server at {server} runs without "
                                   "--enable-deterministic-inference")
        if adapter is not None:
            for server in self.workers or [self.url]:
                check_loaded(post_json(f"{server}/load_lora_adapter",
                                       {"lora_name": self.lora_name, "lora_path": adapter}, self.request_timeout),
                             f"loading the adapter {adapter} on {server}")
                self._loaded.append(server)

    def close(self) -> None:
        try:
            while self._loaded:
                server = self._loaded.pop()
                check_loaded(post_json(f"{server}/unload_lora_adapter", {"lora_name": self.lora_name},
                                       self.request_timeout), f"unloading the adapter {self.lora_name} from {server}")
        finally:
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

        # a server takes a prompt's k copies in one request; the router only single prompts, so there each copy
        # is a request of its own (and the router spreads them over its workers)
        copies = [[j] for j in range(n)] if self.routed else [list(range(n))]
        jobs = [(i, js) for i in range(len(prompts)) for js in copies]

        def one(job: tuple[int, list[int]]) -> list[Completion]:
            i, js = job
            ids = prompts[i]
            per_copy = [{**params, "sampling_seed": request_seed(sampling.seed, seeds[i], j)} for j in js]
            if self.routed:
                payload = {"input_ids": ids, "sampling_params": per_copy[0]}
            else:
                payload = {"input_ids": [ids] * len(js), "sampling_params": per_copy}
            if self.lora_name:
                payload["lora_path"] = self.lora_name if self.routed else [self.lora_name] * len(js)
            try:
                outputs = request_json(self.server, post_json, f"{self.url}/generate", payload, self.request_timeout)
            except urllib.error.HTTPError as err:
                if err.code not in SOFT_FAIL_STATUSES:
                    raise
                return failed(http_error_message(err), "error", len(js), prompt_tokens=len(ids))
            return [completion(o, len(ids)) for o in (outputs if isinstance(outputs, list) else [outputs])]

        parts: list[list[Completion]] = [[] for _ in prompts]
        done: dict[tuple[int, int], list[Completion]] = {}
        with ThreadPoolExecutor(self.concurrency) as pool, \
                progress(total=len(prompts) * n, desc=f"generate ({self.name})", unit="sample",
                         disable=not self.progress) as bar:
            futures = {pool.submit(one, job): (job[0], job[1][0]) for job in jobs}
            try:
                for future in as_completed(futures):
                    done[futures[future]] = future.result()
                    bar.update(len(done[futures[future]]))
                    advance(len(done[futures[future]]))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        for (i, _), completions in sorted(done.items()):
            parts[i].extend(completions)
        return parts


def completion(output: dict, prompt_tokens: int) -> Completion:
    """One ``/generate`` output as a completion, with its true finish reason (an abort's text is its message)."""
    meta = output["meta_info"]
    finish = meta.get("finish_reason") or {}
    if finish.get("type") == "abort":
        return Completion(f"aborted: {finish.get('message') or 'no reason given'}", meta["completion_tokens"],
                          "abort", prompt_tokens=prompt_tokens)
    return Completion(output["text"], meta["completion_tokens"], "length" if finish.get("type") == "length" else "stop",
                      prompt_tokens=prompt_tokens)
