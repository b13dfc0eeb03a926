"""Many workers behind SGLang's router, and one server for every training seed's adapter: fake workers, behind the
real router where the serving venv has it (two real SGLang workers behind it are in test_real_servers.py)."""

import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from qup.config import EngineParams
from qup.engines import Sampling, make_engine, shared_server
from qup.engines import registry as engine_registry
from qup.engines.router import router_command
from tests import test_checkpoint_identity
from tests.test_checkpoint_identity import FakeServer, adapter, entry, sglang

fake_server = test_checkpoint_identity.fake_server
REPO = Path(__file__).resolve().parents[1]
SERVING_PYTHON = os.environ.get("QUP_SERVING_PYTHON") or str(REPO / ".venv-serve/bin/python")
GREEDY = Sampling(temperature=0.0, max_new_tokens=8)
QUESTION = [[{"role": "user", "content": "1 + 1?"}]]


class FakeWorker(FakeServer):
    """An SGLang worker as the router sees it: ``/generate`` of one prompt, answered by the adapter it names."""

    def post(self, path, body):
        if path == "/generate" and not isinstance(body["input_ids"][0], list):
            return 200, {"text": self.answer(body.get("lora_path")), "meta_info": {
                "completion_tokens": 4, "finish_reason": {"type": "stop"}}}
        return super().post(path, body)


def test_the_router_binds_to_loopback_in_front_of_every_worker():
    cmd = router_command(["http://10.0.0.1:30000/", "http://10.0.0.2:30000"], python="py", port=8000,
                         policy="round_robin", extra_args=["--retry-max-retries", "3"])
    assert cmd[:3] == ["py", "-m", "sglang_router.launch_router"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "8000"
    workers = cmd.index("--worker-urls")
    assert cmd[workers + 1:workers + 3] == ["http://10.0.0.1:30000", "http://10.0.0.2:30000"]
    assert cmd[cmd.index("--policy") + 1] == "round_robin" and cmd[-2:] == ["--retry-max-retries", "3"]


def test_a_router_url_and_its_workers_together_are_refused():
    with pytest.raises(ValidationError, match="sglang.url and sglang.workers are both set"):
        EngineParams.model_validate({"engine": "sglang", "sglang": {"url": "http://r", "workers": ["http://w"]}})


@pytest.mark.slow
@pytest.mark.skipif(not Path(SERVING_PYTHON).exists(), reason="no serving venv: run scripts/serving/setup.sh")
def test_qup_starts_the_router_in_front_of_workers_and_loads_an_adapter_on_each(tiny_model_dir, tmp_path):
    lora = adapter(tmp_path, "seed-0")
    workers = [FakeWorker(tiny_model_dir, answers={None: "base", lora: "The answer is 2."}) for _ in range(2)]
    params = EngineParams.model_validate({"engine": "sglang", "sglang": {
        "python": SERVING_PYTHON, "workers": [w.url for w in workers], "router_policy": "round_robin"}})
    try:
        with make_engine(params, entry(tiny_model_dir), adapter=lora) as engine:
            out = engine.generate(QUESTION * 3, 2, GREEDY)
            assert [[c.text for c in samples] for samples in out] == [["The answer is 2."] * 2] * 3
            assert [list(w.adapters) for w in workers] == [[engine.lora_name]] * 2  # one name on every worker
            # a router at a url: its workers are found through GET /workers, and the adapter loaded on each
            with make_engine(sglang(engine.url), entry(tiny_model_dir), adapter=lora) as reached:
                assert sorted(reached.workers) == sorted(w.url for w in workers)
                assert all(len(w.adapters) == 2 for w in workers)
        assert [w.adapters for w in workers] == [{}, {}]  # unloaded from each on close
        assert engine.server.process.poll() is not None  # and the router qup started is stopped
        served = [sum(path == "/generate" for path, _ in w.requests) for w in workers]
        assert sum(served) == 6 and min(served) > 0  # one request per copy, spread over both workers
    finally:
        for w in workers:
            w.close()


def test_one_server_serves_every_seeds_adapter_loaded_and_unloaded_by_name(tiny_model_dir, tmp_path, fake_server,
                                                                         monkeypatch):
    adapters = [adapter(tmp_path, f"seed-{s}") for s in range(3)]
    server = fake_server(tiny_model_dir, answers={None: "base", **{a: f"from {a}" for a in adapters}})
    launched = []

    class Launched:
        url = server.url

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            launched.append("stopped")

    def launch(model, options, *, progress, adapter, lora_adapters):
        launched.append(lora_adapters)
        return Launched()

    monkeypatch.setitem(engine_registry.SERVERS, "sglang", launch)
    params = EngineParams.model_validate({"engine": "sglang", "sglang": {"python": "py"}})
    with shared_server(params, entry(tiny_model_dir), adapters) as reaching:
        assert reaching.sglang.url == server.url and reaching.sglang.python == "py"
        for lora in adapters:
            with make_engine(reaching, entry(tiny_model_dir), adapter=lora) as engine:
                assert engine.generate(QUESTION, 1, GREEDY)[0][0].text == f"from {lora}"  # each seed as itself
    assert launched == [adapters, "stopped"]  # one launch, able to load all three
    loads = [body["lora_path"] for path, body in server.requests if path == "/load_lora_adapter"]
    assert loads == adapters and len(set(server.loaded)) == 3 and server.adapters == {}


def test_the_hf_engine_and_running_servers_share_nothing_new(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(engine_registry.SERVERS, "sglang", lambda *a, **k: pytest.fail("launched a server"))
    adapters = [adapter(tmp_path, "seed-0")]
    for params in (EngineParams(), sglang("http://127.0.0.1:9"),
                   EngineParams.model_validate({"engine": "sglang", "sglang": {"python": "py"}})):
        with shared_server(params, entry(tiny_model_dir), adapters if params.engine == "hf" else []) as same:
            assert same is params


def test_the_vllm_engine_runs_as_a_server_when_given_a_python_and_in_process_otherwise(monkeypatch):
    from qup.engines import vllm

    built = []
    monkeypatch.setattr(vllm, "VLLMServerEngine", lambda path, **kw: built.append(("server", kw)) or built[-1])
    monkeypatch.setattr(vllm, "VLLMEngine", lambda path, **kw: built.append(("in-process", kw)) or built[-1])
    model = {"id": "m", "path": "/m"}
    make_engine(EngineParams.model_validate({"engine": "vllm", "vllm": {"python": ".venv-serve/bin/python"}}), model)
    make_engine(EngineParams.model_validate({"engine": "vllm"}), model)
    assert [kind for kind, _ in built] == ["server", "in-process"]
    assert built[0][1]["python"] == ".venv-serve/bin/python" and built[0][1]["entry"] == model
    assert "python" not in built[1][1] and json.dumps(built[1][1])  # only the in-process options
