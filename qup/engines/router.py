"""SGLang's router (sglang-router) in front of many SGLang workers: qup starts it on 127.0.0.1 for a list of
worker URLs, or reaches one already running; either way a stage stays one HTTP client of one URL.

The router balances ``/generate`` (and the OpenAI routes) over its workers, retries a request on another worker
when one fails, and drops a worker that stops answering its health checks until it answers again. It does not
pass on ``/load_lora_adapter``: an adapter is loaded on every worker (``workers`` lists them, from qup's own list
or the router's ``GET /workers``) and requests name it as they would on one server.
"""

from __future__ import annotations

import time
import urllib.error

from qup.engines.server import LOADING_INTERVAL, ManagedServer, free_port, get_json, say


def router_command(workers: list[str], *, python: str, port: int, policy: str = "cache_aware",
                   extra_args: list[str] | None = None) -> list[str]:
    """``sglang_router.launch_router`` on 127.0.0.1:``port`` in front of ``workers``."""
    return [python, "-m", "sglang_router.launch_router", "--host", "127.0.0.1", "--port", str(port),
            "--worker-urls", *[w.rstrip("/") for w in workers], "--policy", policy, *(extra_args or [])]


def start_router(workers: list[str], *, python: str, port: int | None = None, policy: str = "cache_aware",
                 startup_timeout: float = 600, extra_args: list[str] | None = None) -> ManagedServer:
    """A router qup owns in front of ``workers``, returned once every worker is registered with it and healthy
    (the router answers ``/health`` before it has registered any, and a request then gets a 503)."""
    if not workers:
        raise ValueError("the router needs at least one worker URL (sglang.workers)")
    port = port or free_port()
    router = ManagedServer(router_command(workers, python=python, port=port, policy=policy, extra_args=extra_args),
                           port, startup_timeout=startup_timeout, name="router")
    try:
        wait_for_workers(router, [w.rstrip("/") for w in workers], startup_timeout)
    except BaseException:
        router.stop()
        raise
    return router


def wait_for_workers(router: ManagedServer, workers: list[str], timeout: float) -> None:
    """Wait until the router lists every one of ``workers`` as healthy; ``ServerFailed`` after ``timeout``."""
    started = last_line = time.monotonic()
    while True:
        listed = get_json(f"{router.url}/workers", 10)
        healthy = {str(w["url"]).rstrip("/") for w in listed.get("workers", []) if w.get("is_healthy")}
        waiting = [w for w in workers if w not in healthy]
        if not waiting:
            say(f"router: {len(workers)} workers healthy")
            return
        if router.exited() or time.monotonic() - started > timeout:
            raise router.failure(f"has no healthy worker at {', '.join(waiting)} after "
                                 f"{time.monotonic() - started:.0f}s")
        if time.monotonic() - last_line >= LOADING_INTERVAL:
            last_line = time.monotonic()
            say(f"router: waiting for {', '.join(waiting)}, {last_line - started:.0f}s")
        time.sleep(0.5)


def router_workers(url: str, timeout: float) -> list[str] | None:
    """The worker URLs of the router at ``url``; None when ``url`` is a plain SGLang server (no ``/workers``)."""
    try:
        reply = get_json(f"{url}/workers", timeout)
    except urllib.error.HTTPError as err:
        if err.code in (404, 405):
            return None
        raise
    items = reply.get("workers", []) if isinstance(reply, dict) else reply
    return [str(w["url"] if isinstance(w, dict) else w).rstrip("/") for w in items]
