import polars as pl
import pytest

from qup.engines import Completion, Sampling
from qup.native import native_metrics, pick_native_corpus, sample_problems
from qup.prompts import load_prompt
from qup.records import problems_frame

MODEL = {"id": "toy", "revision": "abc", "path": "unused"}


class ScriptedEngine:
    """Answers every problem's j-th sample with a fixed text; counts and can fail its calls."""

    name = "scripted"
    model = "toy"

    def __init__(self, fail_on_call=None):
        self.calls, self.fail_on_call = 0, fail_on_call

    def generate(self, conversations, n, sampling, seeds=None):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt
        return [[Completion(f"1 + 1 = 2\nAnswer: {2 if j % 2 else 3}", 10 + j, "stop") for j in range(n)]
                for _ in conversations]


def problems(n=5):
    return problems_frame([{"id": f"p{i}", "source": "t", "question": f"What is {i}?", "answer": "2"}
                           for i in range(n)])


def run(engine, tmp_path, n=5):
    return sample_problems(engine, problems(n), prompt=load_prompt("toy_solve"), k=4,
                           sampling=Sampling(max_new_tokens=8), model=MODEL, cache_dir=tmp_path, shard_size=2)


def test_samples_are_graded_with_provenance(tmp_path):
    samples = run(ScriptedEngine(), tmp_path)
    assert samples.height == 20
    assert samples["correct"].to_list() == [False, True, False, True] * 5
    row = samples.row(1, named=True)
    assert (row["problem_id"], row["sample"], row["answer"], row["engine"], row["model_revision"], row["prompt"]) == (
        "p0", 1, "2", "scripted", "abc", "toy_solve@v1")


def test_a_killed_run_resumes_without_redoing_finished_shards(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(ScriptedEngine(fail_on_call=3), tmp_path)
    assert len(list(tmp_path.glob("shard-*.parquet"))) == 2
    engine = ScriptedEngine()
    samples = run(engine, tmp_path)
    assert engine.calls == 1 and samples.height == 20
    assert samples["problem_id"].unique(maintain_order=True).to_list() == [f"p{i}" for i in range(5)]


def test_the_hf_engine_samples_the_tiny_model(tiny_model_dir, tmp_path):
    from qup.engines.hf import HFEngine

    engine = HFEngine(str(tiny_model_dir), batch_size=8, progress=False)
    samples = run(engine, tmp_path, n=3)
    assert samples.height == 12 and set(samples["finish_reason"]) <= {"stop", "length"}
    assert (samples["n_tokens"] <= 8).all()


SAMPLES = pl.DataFrame({
    "problem_id": ["a", "a", "a", "b", "b", "c"],
    "sample": [0, 1, 2, 0, 1, 0],
    "response": ["x", "long right", "right", "r", "w", "w"],
    "answer": ["1", "2", "2", "2", None, "1"],
    "correct": [False, True, True, True, False, False],
    "n_tokens": [1, 9, 5, 1, 1, 1],
    "finish_reason": ["stop"] * 5 + ["length"],
})


@pytest.mark.parametrize("rule,expected", [("first", {"a": 1, "b": 0}), ("shortest", {"a": 2, "b": 0})])
def test_pick_rules(rule, expected):
    probs = pl.DataFrame({"id": ["a", "b", "c"], "question": ["qa", "qb", "qc"]})
    samples = SAMPLES.with_columns(pl.col("answer").alias("gold"), pl.lit("e").alias("engine"),
                                   pl.lit("m").alias("model"), pl.lit("p@v1").alias("prompt"))
    corpus = pick_native_corpus(samples, probs, rule=rule, seed=0)
    assert dict(zip(corpus["problem_id"], corpus["trace_id"])) == {k: f"native:{k}:{v}" for k, v in expected.items()}
    assert corpus["question"].to_list() == ["qa", "qb"] and set(corpus["corpus"]) == {"native"}
    random_pick = pick_native_corpus(samples, probs, rule="random", seed=0)
    assert random_pick.height == 2 and random_pick.filter(pl.col("problem_id") == "b")["trace_id"][0] == "native:b:0"


def test_native_metrics():
    m = native_metrics(SAMPLES, n_problems=3, k=3)
    assert m["pass_at_1"] == pytest.approx(3 / 6)
    assert m["pass_at_k"] == pytest.approx(2 / 3) and m["shared_problems"] == 2
    assert (m["no_answer"], m["truncated"]) == (1, 1)
