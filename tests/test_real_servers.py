"""Real servers serving a toy SLM: SGLang launched and stopped by qup's sglang engine, vLLM's
OpenAI server driven by qup's openai engine, and vLLM's offline engine.

They need the serving venv (`bash scripts/serving/setup.sh .venv-serve`, or QUP_SERVING_PYTHON
pointing at a Python with vllm and sglang); without one they are skipped. CI makes it.
"""

import json
import os
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from qup.engines import Sampling
from qup.engines.api import OpenAIEngine
from qup.engines.server import ManagedServer, free_port, vllm_server_command
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


@pytest.fixture(scope="module")
def servable_model(tmp_path_factory):
    """The toy SLM's architecture with 32-dim heads, which vLLM's CPU attention supports."""
    return save_untrained_slm(tmp_path_factory.mktemp("servable-slm"), hidden_size=64, intermediate_size=128,
                              num_layers=2, num_heads=2, head_dim=32)


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def check_completions(out, n):
    assert [len(samples) for samples in out] == [n] * len(CONVERSATIONS)
    for samples in out:
        for c in samples:
            assert c.finish_reason in ("stop", "length") and 0 < c.n_tokens <= SAMPLING.max_new_tokens + 1
            assert isinstance(c.text, str)


def test_sglang_engine_launches_the_server_generates_k_samples_and_stops_it(servable_model):
    from qup.engines.sglang import SGLangEngine

    engine = SGLangEngine(str(servable_model), python=SERVING_PYTHON, device="cpu", mem_fraction=0.1,
                          extra_args=["--skip-server-warmup"], startup_timeout=400, progress=False)
    port = engine.server.port
    try:
        assert engine.url == f"http://127.0.0.1:{port}"
        check_completions(engine.generate(CONVERSATIONS, 4, SAMPLING), 4)
        greedy = engine.generate(CONVERSATIONS[:1], 2, Sampling(temperature=0, max_new_tokens=16))
        assert greedy[0][0].text == greedy[0][1].text
        # the openai engine drives the same server through its OpenAI-compatible API
        client = OpenAIEngine(str(servable_model), base_url=f"{engine.url}/v1", api_key_env=None, progress=False)
        check_completions(client.generate(CONVERSATIONS, 3, SAMPLING), 3)
        # adaptation cost from the server's prompt logprobs matches the in-process computation
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from qup.scoring.nll import response_nll, sglang_response_nll

        pairs = [(c, "3 + 4 = 7\nAnswer: 7") for c in CONVERSATIONS]
        served = sglang_response_nll(engine.url, engine.tokenizer, pairs)
        local = response_nll(AutoModelForCausalLM.from_pretrained(servable_model),
                             AutoTokenizer.from_pretrained(servable_model), pairs)
        for a, b in zip(served, local):
            assert a.token_ids == b.token_ids
            assert a.nll == pytest.approx(b.nll, abs=0.05)  # the server computes in bfloat16
    finally:
        engine.close()
    assert engine.server.process.poll() is not None
    assert not port_open(port)


def test_openai_engine_drives_a_vllm_server(servable_model):
    port = free_port()
    cmd = vllm_server_command(str(servable_model), python=SERVING_PYTHON, port=port, dtype="bfloat16",
                              gpu_memory_utilization=0.1)
    with ManagedServer(cmd, port, startup_timeout=400) as server:
        engine = OpenAIEngine(str(servable_model), base_url=f"{server.url}/v1", api_key_env=None, concurrency=4,
                              progress=False)
        check_completions(engine.generate(CONVERSATIONS, 4, SAMPLING), 4)
    assert not port_open(port)


def test_vllm_offline_engine(servable_model, tmp_path):
    script = tmp_path / "run_vllm.py"
    script.write_text(textwrap.dedent(f"""
        import json
        from qup.engines import Sampling
        from qup.engines.vllm import VLLMEngine

        if __name__ == "__main__":
            engine = VLLMEngine({str(servable_model)!r}, dtype="bfloat16", progress=False)
            conversations = {CONVERSATIONS!r}
            sampled = engine.generate(conversations, 4, Sampling(temperature=1.0, max_new_tokens=24, seed=0))
            again = engine.generate(conversations, 4, Sampling(temperature=1.0, max_new_tokens=24, seed=0))
            greedy = engine.generate(conversations, 2, Sampling(temperature=0, max_new_tokens=16))
            print("RESULT " + json.dumps({{
                "shape": [len(s) for s in sampled],
                "reproducible": [[c.text for c in s] for s in sampled] == [[c.text for c in s] for s in again],
                "greedy_copies_equal": all(s[0].text == s[1].text for s in greedy),
                "finish": sorted({{c.finish_reason for s in sampled for c in s}}),
            }}))
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO), "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([SERVING_PYTHON, str(script)], env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["shape"] == [4, 4] and result["reproducible"] and result["greedy_copies_equal"]
    assert set(result["finish"]) <= {"stop", "length"}
