"""The openai engine against a local server that fails on purpose."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qup.engines import Sampling
from qup.engines.api import MissingAPIKey, OpenAIEngine


class FlakyServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 whose first ``failures`` answers are errors."""

    def __init__(self, failures):
        self.failures = list(failures)
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, self.headers.get("Authorization"), body))
                if server.failures:
                    status = server.failures.pop(0)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "try again"}}')
                    return
                question = body["messages"][-1]["content"]
                answer = {
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": i, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": f"{question} -> {i}"}}
                                for i in range(body["n"])],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 4 * body["n"],
                              "total_tokens": 3 + 4 * body["n"]},
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def flaky():
    servers = []

    def make(failures):
        servers.append(FlakyServer(failures))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_retries_429_and_5xx_then_returns_every_sample(flaky, monkeypatch):
    monkeypatch.setenv("QUP_TEST_KEY", "sk-secret-123")
    server = flaky([429, 503])
    engine = OpenAIEngine("oracle", base_url=server.url, api_key_env="QUP_TEST_KEY", concurrency=1,
                          max_retries=3, progress=False)
    conversations = [[{"role": "user", "content": "q1"}], [{"role": "user", "content": "q2"}]]
    out = engine.generate(conversations, 3, Sampling(temperature=1.0, max_new_tokens=16))
    assert [[c.text for c in s] for s in out] == [[f"q{k} -> {i}" for i in range(3)] for k in (1, 2)]
    assert all(c.n_tokens == 4 and c.prompt_tokens == 3 and c.finish_reason == "stop" for s in out for c in s)
    assert [s[0].retries for s in out] == [2, 0]  # the first request met both failures
    assert len(server.requests) == 4  # two failures, then one request per conversation
    path, auth, body = server.requests[-1]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-secret-123"
    assert (body["n"], body["max_tokens"], body["model"]) == (3, 16, "oracle")
    assert "sk-secret" not in repr(engine)


def test_gives_up_after_max_retries(flaky):
    from openai import RateLimitError

    server = flaky([429] * 10)
    engine = OpenAIEngine("m", base_url=server.url, api_key_env=None, max_retries=2, progress=False)
    with pytest.raises(RateLimitError):
        engine.generate([[{"role": "user", "content": "q"}]], 1, Sampling())
    assert len(server.requests) == 3


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("QUP_NO_SUCH_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match="QUP_NO_SUCH_KEY"):
        OpenAIEngine("m", base_url="http://127.0.0.1:9/v1", api_key_env="QUP_NO_SUCH_KEY")
