"""Inference servers that qup starts: bound to 127.0.0.1, waited on, and always stopped."""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


class ServerFailed(RuntimeError):
    """The inference server did not come up, or died."""


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


class ManagedServer:
    """An inference server process qup owns: started in its own process group, stopped with it."""

    def __init__(self, cmd: list[str], port: int, *, startup_timeout: float = 600, env: dict | None = None):
        self.cmd, self.port, self.startup_timeout = cmd, port, startup_timeout
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = Path(tempfile.mkstemp(prefix="qup-server-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
                                             **(env or {})})
        atexit.register(self.stop)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> ManagedServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"the server exited with code {self.process.returncode} while starting: "
                                   f"{' '.join(self.cmd)}\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1.0)
        raise ServerFailed(f"the server was not healthy after {self.startup_timeout:.0f}s: {' '.join(self.cmd)}\n"
                           f"{self._log_tail()}")

    def stop(self) -> None:
        """Stop the server and every process it started (idempotent)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self._log.close()
        atexit.unregister(self.stop)


def vllm_server_command(model_path: str, *, python: str, port: int, dtype: str = "auto",
                        gpu_memory_utilization: float = 0.9, extra_args: list[str] | None = None) -> list[str]:
    """vLLM's OpenAI-compatible server for ``model_path`` on 127.0.0.1:``port``."""
    return [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path, "--host", "127.0.0.1",
            "--port", str(port), "--dtype", dtype, "--gpu-memory-utilization", str(gpu_memory_utilization),
            *(extra_args or [])]
