"""A checkpoint is evaluated as itself or not at all: a running server is asked what it serves before any
request, and each LoRA checkpoint is loaded on it under a name of its own, used, and unloaded."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from qup.config import EngineParams
from qup.engines import Sampling, make_engine
from qup.engines.identity import WrongModel
from qup.evaluation import as_itself, evaluate_model
from qup.prompts import load_prompt
from qup.toy.tokenizer import build_char_tokenizer

GREEDY = Sampling(temperature=0.0, max_new_tokens=8)


class FakeServer:
    """SGLang's native API and the OpenAI API (vLLM's flavour) on 127.0.0.1, serving ``model_path`` as
    ``served_name``; it answers each request by the adapter it names (``answers``: adapter path -> text,
    None for the base model), or as ``chat`` (a body -> (status, JSON reply)) or ``generate`` (a prompt's
    ids -> SGLang outputs, or (status, message)) script it."""

    def __init__(self, model_path, *, served_name=None, answers=None, deterministic=False, chat=None, generate=None):
        self.model_path, self.served_name = str(model_path), served_name or str(model_path)
        self.answers = answers or {None: "The answer is 0."}
        self.deterministic, self.chat, self.generate = deterministic, chat, generate
        self.adapters: dict[str, str] = {}  # loaded name -> path
        self.loaded: list[str] = []  # every name ever loaded
        self.requests: list[tuple[str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.reply(200, server.get(self.path))

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, body))
                self.reply(*server.post(self.path, body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def get(self, path):
        if path == "/get_model_info":
            return {"model_path": self.model_path, "tokenizer_path": self.model_path, "is_generation": True}
        if path == "/get_server_info":
            return {"enable_deterministic_inference": self.deterministic}
        base = {"id": self.served_name, "object": "model", "created": 0, "owned_by": "vllm", "root": self.model_path,
                "parent": None}
        return {"object": "list", "data": [base] + [
            {"id": name, "object": "model", "created": 0, "owned_by": "vllm", "root": path, "parent": self.served_name}
            for name, path in self.adapters.items()]}

    def answer(self, name):
        return self.answers[self.adapters[name] if name else None]

    def post(self, path, body):
        route = path.removeprefix("/v1")
        if route == "/load_lora_adapter":
            self.adapters[body["lora_name"]] = body["lora_path"]
            self.loaded.append(body["lora_name"])
            return (200, {"success": True}) if path == route else (200, "Success: LoRA adapter added successfully.")
        if route == "/unload_lora_adapter":
            del self.adapters[body["lora_name"]]
            return (200, {"success": True}) if path == route else (200, "Success: LoRA adapter removed successfully.")
        if path == "/generate":
            if self.generate is not None:
                return self.generate(body)
            names = body.get("lora_path") or [None] * len(body["input_ids"])
            return 200, [{"text": self.answer(name), "meta_info": {"completion_tokens": 4,
                                                                  "finish_reason": {"type": "stop"}}}
                         for name in names]
        if self.chat is not None:
            return self.chat(body)
        name = None if body["model"] == self.served_name else body["model"]
        return 200, chat_reply(body, [self.answer(name)] * body["n"])

    def close(self):
        self.httpd.shutdown()


def chat_reply(body, texts, finish="stop"):
    """An OpenAI chat completion with ``texts`` as its choices."""
    return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": i, "finish_reason": finish, "message": {"role": "assistant", "content": t}}
                        for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4 * len(texts), "total_tokens": 3 + 4 * len(texts)}}


@pytest.fixture
def fake_server():
    servers = []

    def make(*args, **kwargs):
        servers.append(FakeServer(*args, **kwargs))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def sglang(url, **options):
    return EngineParams.model_validate({"engine": "sglang", "sglang": {"url": url, **options}})


def openai(url, **options):
    return EngineParams.model_validate({"engine": "openai", "openai": {"base_url": f"{url}/v1", "api_key_env": None,
                                                                       **options}})


def entry(path, model_id=None):
    return {"id": model_id or str(path), "revision": "r", "path": str(path)}


def adapter(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    (path / "adapter_config.json").write_text("{}")
    return str(path)


def full_checkpoint(tmp_path):
    path = tmp_path / "checkpoint"
    build_char_tokenizer().save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("engine", [sglang, openai])
def test_a_server_that_serves_the_model_by_its_directory_or_hub_id_is_used(fake_server, tiny_model_dir, engine):
    server = fake_server(tiny_model_dir)
    with make_engine(engine(server.url), entry(tiny_model_dir)) as built:
        assert built.generate([[{"role": "user", "content": "1 + 1?"}]], 1, GREEDY)[0][0].text == "The answer is 0."
    hub = fake_server("org/slm")  # launched from the hub id: the manifest entry's id matches
    with make_engine(engine(hub.url), entry(tiny_model_dir, "org/slm")):
        pass


@pytest.mark.parametrize("engine", [sglang, openai])
def test_a_server_that_serves_another_model_is_refused_naming_both(fake_server, tiny_model_dir, engine):
    server = fake_server("/models/other-model")
    with pytest.raises(WrongModel, match=rf"serves /models/other-model.*, not {tiny_model_dir}"):
        make_engine(engine(server.url), entry(tiny_model_dir))
    assert not server.requests  # refused before any request


@pytest.mark.parametrize("engine", [sglang, openai])
def test_a_full_checkpoint_is_never_evaluated_as_the_base_model_a_server_serves(fake_server, tiny_model_dir, tmp_path,
                                                                                engine):
    server = fake_server("org/slm")  # the base model, by the hub id the checkpoint's entry inherits
    checkpoint = full_checkpoint(tmp_path)
    model, _, _ = as_itself({**entry(tiny_model_dir, "org/slm"), "path": checkpoint}, None, "r")
    with pytest.raises(WrongModel, match=rf"serves org/slm.*not {checkpoint}"):
        make_engine(engine(server.url), model)
    served = fake_server(checkpoint)  # a server of the checkpoint itself is used
    with make_engine(engine(served.url), model) as built:
        assert built.generate([[{"role": "user", "content": "q"}]], 1, GREEDY)[0][0].text == "The answer is 0."


def test_the_openai_engine_requests_the_servers_name_for_the_model_and_checks_a_name_in_params(fake_server,
                                                                                               tiny_model_dir):
    server = fake_server(tiny_model_dir, served_name="slm")
    with make_engine(openai(server.url), entry(tiny_model_dir)) as built:
        built.generate([[{"role": "user", "content": "q"}]], 1, GREEDY)
    assert server.requests[-1][1]["model"] == "slm"
    with pytest.raises(WrongModel, match="serves slm"):
        make_engine(openai(server.url, model="another"), entry(tiny_model_dir))


def test_deterministic_sampling_is_refused_on_a_server_that_runs_without_it(fake_server, tiny_model_dir):
    with pytest.raises(RuntimeError, match="without --enable-deterministic-inference"):
        make_engine(sglang(fake_server(tiny_model_dir).url, deterministic=True), entry(tiny_model_dir))
    make_engine(sglang(fake_server(tiny_model_dir, deterministic=True).url, deterministic=True),
                entry(tiny_model_dir)).close()


@pytest.mark.parametrize("engine", [sglang, openai])
def test_two_lora_checkpoints_on_one_server_each_answer_as_themselves(fake_server, tiny_model_dir, tmp_path, engine):
    first, second = adapter(tmp_path, "first"), adapter(tmp_path, "second")
    server = fake_server(tiny_model_dir, answers={None: "The answer is 0.", first: "The answer is 1.",
                                                  second: "The answer is 2."})
    problems = pl.DataFrame({"id": ["p0", "p1"], "question": ["What is 1 + 0?", "What is 2 + 0?"],
                             "answer": ["1", "2"]})
    answers = {}
    for path in (first, second):
        with make_engine(engine(server.url), entry(tiny_model_dir), adapter=path) as built:
            results = evaluate_model(built, problems, prompt=load_prompt("toy_solve"), k=2, temperature=1.0,
                                     max_new_tokens=8, seed=0, cache_dir=tmp_path / "cache" / path[-6:], shard_size=8,
                                     key={"checkpoint": path})
        answers[path] = results["greedy_answer"].to_list() + results["sample_answers"].explode().to_list()
    assert answers == {first: ["1"] * 6, second: ["2"] * 6}
    assert len(set(server.loaded)) == 2 and not server.adapters  # a name each, both unloaded after
    named = {body.get("lora_path", [body.get("model")])[0] for route, body in server.requests
             if route in ("/generate", "/v1/chat/completions")}
    assert named == set(server.loaded)
