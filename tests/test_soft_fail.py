"""True finish reasons and soft failures: a request the server refuses (HTTP 400, a content filter) or aborts is
recorded on its row and the stage goes on, counted by reason; past engines.<role>.max_error_share it fails,
naming the commonest error."""

import polars as pl
import pytest
from test_checkpoint_identity import FakeServer, chat_reply

from qup.config import Params
from qup.corpora.build import DROP_REASONS, OracleCall, ask_oracle, corpus_metrics, grade_attempts
from qup.engines import Completion, EngineBase, Sampling, TooManyFailures, check_failures, make_engine
from qup.engines.api import OpenAIEngine
from qup.evaluation import evaluate_model, failures, finish_metrics, results_table
from qup.native import native_metrics, sample_problems
from qup.prompts import load_prompt

TOO_LONG = "This model's maximum context length is 4096 tokens; your prompt has 5000"


def openai_chat(body):
    """Refuses "long" questions (400), filters "rude" ones (400 or 200 content_filter), answers 4 otherwise."""
    question = body["messages"][-1]["content"]
    if "long" in question:
        return 400, {"error": {"message": TOO_LONG, "type": "invalid_request_error", "code": None}}
    if "rude" in question:
        return 400, {"error": {"message": "The prompt was filtered", "type": "invalid_request_error",
                               "code": "content_filter"}}
    if "odd" in question:
        return 200, chat_reply(body, [""] * body["n"], finish="content_filter")
    return 200, chat_reply(body, ["The answer is 4."] * body["n"])


@pytest.fixture
def api():
    server = FakeServer("gpt-x", chat=openai_chat)
    yield OpenAIEngine("gpt-x", base_url=f"{server.url}/v1", api_key_env=None, progress=False, max_retries=0)
    server.close()


def user(text):
    return [{"role": "user", "content": text}]


def problems(*questions):
    return pl.DataFrame({"id": [f"p{i}" for i in range(len(questions))], "question": list(questions),
                         "answer": ["4096"] * len(questions)})


def test_the_api_engine_records_refusals_and_filters_and_goes_on(api):
    out = api.generate([user("a long one"), user("a rude one"), user("an odd one"), user("2 + 2")], 2, Sampling())
    assert [[c.finish_reason for c in s] for s in out] == [["error"] * 2, ["filtered"] * 2, ["filtered"] * 2,
                                                           ["stop"] * 2]
    assert TOO_LONG in out[0][0].text and "filtered" in out[1][0].text and "content_filter" in out[2][0].text
    assert out[3][0].text == "The answer is 4."


def test_an_authentication_error_still_stops_the_stage():
    from openai import AuthenticationError

    server = FakeServer("gpt-x", chat=lambda body: (401, {"error": {"message": "bad key"}}))
    try:
        engine = OpenAIEngine("gpt-x", base_url=f"{server.url}/v1", api_key_env=None, progress=False)
        with pytest.raises(AuthenticationError):
            engine.generate([user("q")], 1, Sampling())
    finally:
        server.close()


def test_native_keeps_failed_rows_never_right_and_counts_them_by_reason(api, tmp_path):
    # the gold answer, 4096, is in the error's message: a failed row must still not be graded right
    samples = sample_problems(api, problems("a long one", "an odd one", "2 + 2"), prompt=load_prompt("solve"), k=2,
                              sampling=Sampling(), model={"id": "gpt-x", "revision": None}, cache_dir=tmp_path,
                              shard_size=8)
    failed = samples.filter(pl.col("finish_reason") != "stop")
    assert failed.height == 4 and not failed["correct"].any() and failed["answer"].is_null().all()
    assert TOO_LONG in failed["response"][0]
    metrics = native_metrics(samples, 3, 2)
    assert metrics["finish_reasons"] == {"stop": 2, "length": 0, "abort": 0, "filtered": 2, "error": 2, "refused": 0}
    with pytest.raises(TooManyFailures, match=r"native: 4 of 6 completions failed .*error: .*maximum context length"):
        check_failures(zip(samples["finish_reason"], samples["response"]), samples.height, max_share=0.05,
                       what="native")
    check_failures(zip(samples["finish_reason"], samples["response"]), samples.height, max_share=0.7, what="native")


def test_evaluation_counts_greedy_and_sampled_finishes_and_writes_its_usual_table(api, tmp_path):
    results = evaluate_model(api, problems("a long one", "2 + 2"), prompt=load_prompt("solve"), k=3, temperature=1.0,
                             max_new_tokens=8, seed=0, cache_dir=tmp_path, shard_size=8, key={})
    assert finish_metrics(results)["greedy"]["error"] == 1 and finish_metrics(results)["samples"]["error"] == 3
    assert finish_metrics(results)["samples"]["stop"] == 3
    assert results["greedy_correct"].to_list() == [False, False] and results["n_correct"].to_list() == [0, 0]
    assert len(failures(results)) == 4 and TOO_LONG in failures(results)[0][1]
    assert "sample_finishes" not in results_table(results).columns


def test_sglang_records_an_http_400_and_an_abort_with_their_messages(tiny_model_dir):
    def generate(body):
        if len(body["input_ids"][0]) > 40:
            return 400, {"error": {"message": "input is longer than the context length"}}
        return 200, [{"text": "", "meta_info": {"completion_tokens": 0,
                                                "finish_reason": {"type": "abort", "message": "client gone"}}}]

    server = FakeServer(tiny_model_dir, generate=generate)
    try:
        params = Params.model_validate({"engines": {"slm": {"engine": "sglang", "sglang": {"url": server.url}}}})
        with make_engine(params.engines.slm, {"id": str(tiny_model_dir), "path": str(tiny_model_dir)}) as engine:
            long, short = engine.generate([user("x" * 60), user("hi")], 2, Sampling())
    finally:
        server.close()
    assert [c.finish_reason for c in long] == ["error"] * 2 and "HTTP 400" in long[0].text
    assert "longer than the context length" in long[0].text
    assert short[0].finish_reason == "abort" and short[0].text == "aborted: client gone"


def attempt(problem_id, response, finish):
    return {"problem_id": problem_id, "question": "q", "gold": "5", "response": response, "finish_reason": finish}


def test_the_oracle_corpora_drop_failed_and_cut_off_replies_each_with_its_reason():
    graded = grade_attempts(pl.DataFrame([
        attempt("e", "HTTP 400: 5 tokens too many", "error"), attempt("f", "content filter: 5", "filtered"),
        attempt("a", "aborted: 5", "abort"), attempt("t", "2 + 3 = 5\nThe answer is 5", "length"),
        attempt("k", "2 + 3 = 5\nThe answer is 5", "stop")]), max_edit=None)
    reasons = dict(zip(graded["problem_id"], graded["drop_reason"]))
    assert reasons == {"e": "error", "f": "filtered", "a": "aborted", "t": "truncated", "k": None}
    corpus = graded.filter(pl.col("drop_reason").is_null()).with_columns(
        pl.lit(None, dtype=pl.String).alias("source_response"), pl.lit(None, dtype=pl.Float64).alias("judge_score"),
        pl.lit(None, dtype=pl.Boolean).alias("same_operations"))
    dropped = corpus_metrics("x", graded, corpus, 5)["dropped"]
    assert list(dropped) == list(DROP_REASONS) and dropped["error"] == dropped["truncated"] == 1


class Refusing(EngineBase):
    """An Oracle whose server refuses every request."""

    name, model = "refusing", "m"

    def generate(self, conversations, n, sampling, seeds=None):
        return [[Completion("HTTP 400: too long", 0, "error")] * n for _ in conversations]


def test_an_oracle_stage_past_its_error_share_fails_naming_the_error(tmp_path):
    call = OracleCall(Refusing(), {"id": "m"}, Sampling(), tmp_path, 4)
    rows = [{"key": f"p{i}", "question": f"What is {i} + 1?"} for i in range(3)]
    with pytest.raises(TooManyFailures, match=r"3 of 3 completions failed.*error: HTTP 400: too long"):
        ask_oracle(call, load_prompt("synthesize@v1"), rows, desc="synthesize")
    replies = ask_oracle(OracleCall(Refusing(), {"id": "m"}, Sampling(), tmp_path, 4, max_error_share=1.0),
                         load_prompt("synthesize@v1"), rows, desc="synthesize")
    assert replies["finish_reason"].to_list() == ["error"] * 3  # cached, and kept as failures
