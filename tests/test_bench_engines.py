"""`qup bench engines`' own logic, on fake engines: each engine timed and graded on the same problems, an engine
that is not installed skipped with the command that installs it, one that fails reported and the rest measured,
and the table's ratio taken to hf float32 of the same run."""

import pytest

from qup import bench
from qup.bench import EngineMissing, EngineRun, engine_table, gsm8k_test_problems, measure_engine
from qup.engines import Completion, EngineBase, Sampling

CONVERSATIONS = [[{"role": "user", "content": "2 + 3?"}], [{"role": "user", "content": "4 + 4?"}]]
GOLDS = ["5", "8"]
SAMPLING = Sampling(temperature=0.0, max_new_tokens=16)


class FakeEngine(EngineBase):
    """Answers each conversation with ``replies`` in turn, and records the requests it saw."""

    name = "fake"

    def __init__(self, replies):
        self.replies, self.seen = replies, []

    def generate(self, conversations, n, sampling, seeds=None):
        self.seen.append((len(conversations), sampling.max_new_tokens))
        return [[Completion(text, tokens, finish)] for (text, tokens, finish), _ in zip(self.replies, conversations)]


def test_an_engine_is_warmed_up_then_timed_and_graded_on_every_problem():
    engine = FakeEngine([("So \\boxed{5}.", 10, "stop"), ("It is 7, cut", 16, "length")])
    run = measure_engine("hf-float32", lambda: engine, CONVERSATIONS, GOLDS, SAMPLING, log=lambda line: None)
    assert engine.seen == [(1, 4), (2, 16)]  # a short warm-up request, then the timed pass
    assert (run.status, run.tokens, run.problems, run.right, run.cut) == ("ok", 26, 2, 1, 1)
    assert run.rate == pytest.approx(26 / run.seconds)


def test_a_missing_engine_is_skipped_with_its_install_command_and_a_failing_one_is_reported():
    def missing():
        raise EngineMissing("no llama_cpp.server in .venv-llamacpp/bin/python: "
                            "bash scripts/serving/setup_llamacpp.sh .venv-llamacpp")

    def broken():
        raise RuntimeError("the server exited with code 1 while starting\nand a long log")

    skipped = measure_engine("llamacpp", missing, CONVERSATIONS, GOLDS, SAMPLING, log=lambda line: None)
    failed = measure_engine("sglang", broken, CONVERSATIONS, GOLDS, SAMPLING, log=lambda line: None)
    assert (skipped.status, skipped.rate) == ("skipped", None)
    assert failed.status == "failed" and failed.note == "RuntimeError: the server exited with code 1 while starting"
    table = engine_table("m", [EngineRun("hf-float32", "ok", seconds=2.0, tokens=100, problems=2, right=1), skipped,
                               failed])
    assert "| m | llamacpp | – | – | – | – | – | skipped: no llama_cpp.server in .venv-llamacpp/bin/python: bash " \
           "scripts/serving/setup_llamacpp.sh .venv-llamacpp |" in table
    assert "| m | sglang | – | – | – | – | – | failed: RuntimeError: the server exited" in table


def test_the_table_gives_each_engine_its_rate_ratio_to_hf_float32_accuracy_and_cut_replies():
    runs = [EngineRun("hf-float32", "ok", load_seconds=60, seconds=10.0, tokens=400, problems=16, right=3, cut=9),
            EngineRun("llamacpp", "ok", load_seconds=2, seconds=4.0, tokens=480, problems=16, right=2, cut=10),
            EngineRun("hf-bf16", "ok", load_seconds=55, seconds=8.0, tokens=400, problems=16, right=3, cut=9)]
    rows = engine_table("qwen", runs).splitlines()
    assert rows[0] == "| model | engine | load s | tok/s | × hf float32 | right | cut at max | note |"
    assert rows[2] == "| qwen | hf-float32 | 60 | 40.0 | 1.00x | 3/16 | 9/16 | 400 tokens in 10.0s |"
    assert rows[3] == "| qwen | llamacpp | 2 | 120.0 | 3.00x | 2/16 | 10/16 | 480 tokens in 4.0s |"
    assert rows[4] == "| qwen | hf-bf16 | 55 | 50.0 | 1.25x | 3/16 | 9/16 | 400 tokens in 8.0s |"
    without_base = engine_table("qwen", runs[1:]).splitlines()
    assert "| 120.0 | – | 2/16 |" in without_base[2]  # no hf float32 measured: no ratio


def test_the_problems_are_the_first_of_gsm8k_test_with_their_gold_answers():
    problems = gsm8k_test_problems(3)
    assert len(problems) == 3 and problems[0]["question"].startswith("Janet")
    assert problems[0]["answer"] == "18"
    with pytest.raises(ValueError, match="fewer than the 100000 asked for"):
        gsm8k_test_problems(100_000)


def test_an_easier_set_reads_its_own_columns():
    problems = bench.problem_set("multiarith", 2)
    assert problems[0]["question"].startswith("For Halloween Debby") and problems[0]["answer"] == "39"
    with pytest.raises(ValueError, match="unknown problem set 'svamp'; choose one of gsm8k-test"):
        bench.problem_set("svamp", 2)


def test_an_engine_without_its_server_python_is_missing_with_the_install_command(tmp_path):
    with pytest.raises(EngineMissing, match=r"no vllm in .*nowhere/python: bash scripts/serving/setup.sh .venv-serve"):
        bench._server_python("vllm", str(tmp_path / "nowhere" / "python"))
