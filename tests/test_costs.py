"""Token and cost accounting: engines record usage, stages total it, and oracle.max_cost stops a stage in time."""

import json
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from test_native import ScriptedEngine, problems
from test_openai_engine import FlakyServer
from test_oracle_corpora import miniature_world  # noqa: F401 (a fixture)

from qup.config import Params, Price
from qup.engines import Completion, Sampling, Usage, count_tokens
from qup.engines.api import completions
from qup.evaluation import evaluate_model
from qup.native import native_usage, sample_problems
from qup.prompts import load_prompt
from stages import corpus as corpus_stage

PRICED = {"symbolic": {"prompt": 1000.0, "completion": 1000.0}}  # USD per million tokens: $0.001 a token


def read_metrics(name: str) -> dict:
    return json.loads(Path(f"metrics/corpora/{name}.json").read_text())


def test_usage_counts_a_requests_prompt_once_and_costs_nothing_without_a_price():
    request = [Completion("a", 5, "stop", prompt_tokens=7, retries=1), Completion("b", 3, "stop", 7, 1)]
    usage = Usage.of([request, [Completion("c", 2, "stop", prompt_tokens=4)]])
    assert usage == Usage(calls=3, prompt_tokens=11, completion_tokens=10, retries=1)
    assert usage.cost(Price(prompt=2.0, completion=10.0)) == pytest.approx((11 * 2 + 10 * 10) / 1e6)
    assert usage.cost(None) == 0 and usage.metrics(None)["cost_usd"] == 0


def test_local_token_counts_split_words_digit_groups_and_symbols():
    assert count_tokens("Ana has 12 pens.") == 5
    assert count_tokens("1234567 + x_1") == 7  # 123 456 7 + x _ 1
    assert count_tokens("\\frac{1}{2}") == 8


def test_the_openai_engine_counts_locally_when_the_server_sends_no_usage():
    choice = SimpleNamespace(index=0, finish_reason="stop", message=SimpleNamespace(content="x = 12"))
    served = completions([{"role": "user", "content": "What is x?"}],
                         SimpleNamespace(choices=[choice], usage=None), retries=2)
    assert served == [Completion("x = 12", 3, "stop", prompt_tokens=4, retries=2)]
    usage = SimpleNamespace(prompt_tokens=9, completion_tokens=7)
    three = completions([], SimpleNamespace(choices=[choice] * 3, usage=usage), retries=0)
    assert [c.n_tokens for c in three] == [3, 2, 2] and {c.prompt_tokens for c in three} == {9}


def build(params: Params, name: str) -> None:
    """Both steps of a corpus: candidates@ builds it, corpus@ publishes it."""
    corpus_stage.candidates(params, name)
    corpus_stage.main(params, name)


def test_symbolic_oracle_stage_totals_its_tokens_judge_included(miniature_world):  # noqa: F811
    build(Params(), "style_aligned")
    metrics = read_metrics("style_aligned")
    attempts = pl.read_parquet("data/attempts/style_aligned.parquet")
    judged = metrics["covered"] + metrics["dropped"]["drift_guard"]  # every refinement kept before the judge
    assert metrics["calls"] == attempts.height + judged == 10 + 9
    assert attempts["completion_tokens"].to_list() == [count_tokens(r) for r in attempts["response"]]
    assert metrics["completion_tokens"] > attempts["completion_tokens"].sum() > 0  # the judge's replies too
    assert metrics["prompt_tokens"] > metrics["completion_tokens"] and metrics["retries"] == 0
    assert metrics["cost_usd"] == 0  # the symbolic Oracle has no price


def test_an_api_oracle_stage_totals_the_servers_usage_and_retries_and_never_shows_the_key(
        miniature_world, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("QUP_TEST_KEY", "sk-secret-123")
    server = FlakyServer([503])
    try:
        params = Params.model_validate({
            "models": {"oracle": {"name": "gpt-test"}},
            "engines": {"oracle": {"engine": "openai", "openai": {"base_url": server.url, "api_key_env": "QUP_TEST_KEY",
                                                                  "concurrency": 2}}},
            "costs": {"prices": {"gpt-test": {"prompt": 2.5, "completion": 10.0}}}})
        build(params, "oracle_synth")
    finally:
        server.close()
    metrics = read_metrics("oracle_synth")
    assert len(server.requests) == 11  # ten problems, one of them answered after a 503
    assert (metrics["calls"], metrics["prompt_tokens"], metrics["completion_tokens"], metrics["retries"]) == (
        10, 30, 40, 1)  # the fake server's usage: 3 prompt and 4 completion tokens a request
    assert metrics["cost_usd"] == pytest.approx((30 * 2.5 + 40 * 10.0) / 1e6)
    written = [Path("metrics/corpora/oracle_synth.json").read_bytes(), Path("data/attempts/oracle_synth.parquet")
               .read_bytes(), Path("data/corpora/oracle_synth.parquet").read_bytes(), *capsys.readouterr()]
    assert not any(b"sk-secret" in (w if isinstance(w, bytes) else w.encode()) for w in written)


def shards(name: str) -> list[Path]:
    return sorted(Path(f".qup-cache/oracle/{name}").glob("shard-*.parquet"))


def test_max_cost_stops_before_the_budget_keeps_finished_shards_and_a_larger_budget_resumes(
        miniature_world, monkeypatch):  # noqa: F811
    from qup.engines.symbolic import SymbolicEngine

    asked = []
    generate = SymbolicEngine.generate
    monkeypatch.setattr(SymbolicEngine, "generate", lambda self, c, *a, **kw: asked.append(len(c))
                        or generate(self, c, *a, **kw))
    settings = {"oracle": {"shard_size": 3, "max_new_tokens": 64, "max_cost": 1.0}, "costs": {"prices": PRICED}}
    with pytest.raises(SystemExit) as stop:
        build(Params.model_validate(settings), "oracle_synth")
    message = str(stop.value)
    assert message.startswith("candidates@oracle_synth: stopped before passing oracle.max_cost $1.00")
    assert "6 of 10 oracle_synth requests" in message and "dvc exp run -S oracle.max_cost=" in message
    assert "dvc repro corpus@oracle_synth" in message
    assert asked == [3, 3] and len(shards("oracle_synth")) == 2 and not Path("metrics/corpora").exists()
    spent = Usage.from_rows(pl.concat(pl.read_parquet(p) for p in shards("oracle_synth")))
    assert 0.75 < spent.cost(Price(**PRICED["symbolic"])) <= 1.0

    settings["oracle"]["max_cost"] = 5.0
    build(Params.model_validate(settings), "oracle_synth")
    assert asked == [3, 3, 3, 1]  # only the shards the first run had not finished
    metrics = read_metrics("oracle_synth")
    assert metrics["calls"] == 10 and metrics["covered"] == 10
    whole = Usage.from_rows(pl.concat(pl.read_parquet(p) for p in shards("oracle_synth")))
    assert metrics["cost_usd"] == pytest.approx(whole.cost(Price(**PRICED["symbolic"])), abs=1e-6)
    assert metrics["cost_usd"] > 1.0 and whole.calls == 10


def test_max_cost_before_any_shard_counts_every_reply_at_max_new_tokens(miniature_world):  # noqa: F811
    settings = {"oracle": {"shard_size": 3, "max_cost": 1.0}, "costs": {"prices": PRICED}}  # 3 x 1024 tokens: $3+
    with pytest.raises(SystemExit, match="0 of 10 oracle_synth requests"):
        build(Params.model_validate(settings), "oracle_synth")
    assert shards("oracle_synth") == []


class PromptCountingEngine(ScriptedEngine):
    """The scripted SLM, its requests' prompts five tokens long."""

    def generate(self, conversations, n, sampling, seeds=None):
        return [[Completion(c.text, c.n_tokens, c.finish_reason, prompt_tokens=5) for c in samples]
                for samples in super().generate(conversations, n, sampling, seeds)]


def test_native_and_evaluation_usage_count_every_sample_and_each_request_once(tmp_path):
    samples = sample_problems(PromptCountingEngine(), problems(5), prompt=load_prompt("toy_solve"), k=4,
                              sampling=Sampling(max_new_tokens=8), model={"id": "toy", "revision": "abc"},
                              cache_dir=tmp_path / "native", shard_size=2)
    assert native_usage(samples) == Usage(calls=20, prompt_tokens=25, completion_tokens=5 * (10 + 11 + 12 + 13))
    results = evaluate_model(PromptCountingEngine(), problems(5), prompt=load_prompt("toy_solve"), k=4,
                             temperature=1.0, max_new_tokens=8, seed=0, cache_dir=tmp_path / "eval", shard_size=2,
                             key={})
    # per problem: one greedy request (1 completion) and one sampled request (4), each with its prompt
    assert Usage.from_rows(results) == Usage(calls=25, prompt_tokens=50,
                                             completion_tokens=5 * (10 + 10 + 11 + 12 + 13))
