"""Oracle prompts, the drift guard, judge parsing, and the corpus stages on a miniature world."""

import json
import os
import random

import polars as pl
import pytest

from qup.chat import prompt_ids
from qup.config import Params
from qup.corpora.build import attempt_answer, grade_attempts, source_traces
from qup.corpora.drift import edit_distance, verbatim_prefix
from qup.corpora.judge import parse_judge_score
from qup.prompts import load_prompt, prompt_versions
from qup.toy.styles import inject_mistake, render_native, render_textbook
from qup.toy.tokenizer import build_char_tokenizer
from qup.toy.world import generate_problems

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FIELDS = {"question": "Ana has 3 pens. Ana buys 2 more. How many pens now?", "trace": "3 + 2 = 6\nAnswer: 6",
          "refined": "3 + 2 = 5\nAnswer: 5", "answer": "5", "attempt_answer": "6"}
ORACLE_PROMPTS = [p.id for name in ("synthesize", "refine", "style_aligned", "judge", "self_rewrite")
                  for p in prompt_versions(name)]


def test_the_oracle_prompts_have_every_version_they_are_known_by():
    assert {"refine@v3", "style_aligned@v3", "synthesize@v2", "judge@v1", "self_rewrite@v1"} <= set(ORACLE_PROMPTS)


@pytest.mark.parametrize("name", ORACLE_PROMPTS)
@pytest.mark.parametrize("template", ["toy", "chatml"])
def test_every_oracle_prompt_renders_through_a_chat_template_and_reads_back(name, template):
    prompt = load_prompt(name)
    tokenizer = build_char_tokenizer()
    if template == "chatml":
        tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
        tokenizer.chat_template = CHATML
    text = prompt.render(**{f: FIELDS[f] for f in prompt.fields})
    assert "{" not in text.replace("\\boxed{}", "")  # every placeholder filled
    ids = prompt_ids(tokenizer, [{"role": "user", "content": text}])
    decoded = tokenizer.decode(ids)
    assert text in decoded
    assert decoded.endswith("<|im_start|>assistant\n" if template == "chatml" else "<|assistant|>")
    assert prompt.parse(text) == {f: FIELDS[f] for f in prompt.fields}
    assert prompt.id == name


def test_drift_measures():
    assert edit_distance("abc", "abc") == 0 and edit_distance("abc", "xyz") == 1
    assert edit_distance("12 + 5 = 18", "12 + 5 = 17") == pytest.approx(1 / 11)
    assert verbatim_prefix("12 + 5 = 18\nAnswer: 18", "12 + 5 = 17\nAnswer: 17") == pytest.approx(10 / 22)
    assert verbatim_prefix("same", "same") == 1


def _attempt(problem_id, source, response, finish="stop", gold="5"):
    return {"problem_id": problem_id, "question": "q", "gold": gold, "source_response": source,
            "response": response, "finish_reason": finish}


def test_the_drift_guard_drops_far_refinements_and_every_drop_has_its_reason():
    attempts = pl.DataFrame([
        _attempt("near", "3 + 2 = 6\nAnswer: 6", "3 + 2 = 5\nAnswer: 5"),
        _attempt("far", "3 + 2 = 6\nAnswer: 6", "Step 1: Ana starts with 3 pens.\nStep 2: adding 2 gives 5.\n"
                                                 "Therefore, the final answer is $\\boxed{5}$."),
        _attempt("wrong", "3 + 2 = 6\nAnswer: 6", "3 + 2 = 7\nAnswer: 7"),
        _attempt("silent", "3 + 2 = 6\nAnswer: 6", ""),
        _attempt("refused", "3 + 2 =", "I cannot do this", finish="refused"),
    ])
    graded = grade_attempts(attempts, max_edit=0.5)
    reasons = dict(zip(graded["problem_id"], graded["drop_reason"]))
    assert reasons == {"near": None, "far": "drift_guard", "wrong": "wrong_answer", "silent": "no_answer",
                       "refused": "refused"}
    near = graded.filter(pl.col("problem_id") == "near").row(0, named=True)
    assert 0 < near["edit_distance"] < 0.2 and near["verbatim_prefix"] == pytest.approx(8 / 19)
    assert graded.filter(pl.col("problem_id") == "refused")["edit_distance"].item() is None
    assert grade_attempts(attempts, max_edit=None).filter(pl.col("problem_id") == "far")["drop_reason"].item() is None


@pytest.mark.parametrize("reply, score", [
    ("The rewrite keeps every step.\nScore: 5", 5.0),
    ("**Score:** 4", 4.0),
    ("I would rate this 3/5 overall.", 3.0),
    ("Final verdict: \\boxed{2}", 2.0),
    ("Rating - 4 out of 5", 4.0),
    ("Score: 2\n\nOn reflection, Score: 3", 3.0),
    ("4", 4.0),
    ("Score: 4.5", 4.5),
    ("The rewrite is faithful.", None),
    ("Score: 0", None),
    ("Score: 10", None),
    ("", None),
    (None, None),
])
def test_judge_scores_are_read_from_messy_replies_and_missing_is_not_zero(reply, score):
    assert parse_judge_score(reply) == score


def test_failed_source_prefers_a_finished_failed_sample_and_falls_back_to_the_native_trace():
    samples = pl.DataFrame({
        "problem_id": ["a", "a", "a", "b", "b"], "sample": [0, 1, 2, 0, 1],
        "response": ["loop loop", "3 + 2 = 6", "3 + 2 = 5", "x", "y"],
        "correct": [False, False, True, True, True], "finish_reason": ["length", "stop", "stop", "stop", "stop"]})
    native = pl.DataFrame({"problem_id": ["a", "b"], "question": ["qa", "qb"], "gold": ["5", "1"],
                           "trace_id": ["native:a:2", "native:b:0"], "response": ["3 + 2 = 5", "x"]})
    failed = source_traces(samples, native, "failed").sort("problem_id")
    assert failed["parent_id"].to_list() == ["sample:a:1", "native:b:0"]
    assert failed["source_response"].to_list() == ["3 + 2 = 6", "x"]
    assert source_traces(samples, native, "native")["parent_id"].to_list() == ["native:a:2", "native:b:0"]


@pytest.fixture
def miniature_world(tmp_path, monkeypatch):
    """Train problems and the SLM's graded samples, written by hand into a fresh directory."""
    rng = random.Random(0)
    problems = generate_problems(12, 0)
    train = pl.DataFrame([{"id": p.id, "source": "toy", "question": p.question, "answer": str(p.answer),
                           "solution": render_textbook(p) if i % 4 else None, "level": None, "type": None,
                           "meta": p.computation_json()} for i, p in enumerate(problems)])
    samples = []
    for p in problems[:10]:
        wrong, _ = inject_mistake(p, rng, ["arithmetic"])
        right = render_native(p, rng)
        broken = "12 + 5 =" if p.id.endswith("3") else render_native(p, rng, wrong)
        for j, (text, ok) in enumerate([(broken, False), (right, True)]):
            samples.append({"problem_id": p.id, "sample": j, "response": text, "correct": ok, "finish_reason": "stop",
                            "answer": str(p.answer) if ok else None, "gold": str(p.answer), "n_tokens": len(text)})
    (tmp_path / "data/problems").mkdir(parents=True)
    (tmp_path / "data/samples").mkdir(parents=True)
    train.write_parquet(tmp_path / "data/problems/train.parquet")
    pl.DataFrame(samples, schema_overrides={"answer": pl.String}).write_parquet(
        tmp_path / "data/samples/native.parquet")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_corpus_stages_on_a_miniature_world(miniature_world):
    from stages import corpus as corpus_stage

    for name in Params().corpora:
        corpus_stage.candidates(Params(), name)
        corpus_stage.main(Params(), name)
        assert open(f"data/corpora/{name}.parquet", "rb").read() == open(f"data/candidates/{name}/corpus.parquet",
                                                                          "rb").read()  # published unchanged
    native = pl.read_parquet("data/corpora/native.parquet")
    assert native["trace_id"].to_list() == [f"native:toy-{i:06d}:1" for i in range(10)]  # the correct samples
    schema = native.columns
    for name in ("oracle_synth", "oracle_refined", "style_aligned", "reference"):
        corpus = pl.read_parquet(f"data/corpora/{name}.parquet")
        assert corpus.columns == pl.read_parquet("data/corpora/style_aligned.parquet").columns
        assert (set(corpus["problem_id"]) <= {f"toy-{i:06d}" for i in range(10)}
                and corpus["problem_id"].is_unique().all())
        assert (corpus["answer"] == corpus["gold"]).all() and (corpus["corpus"] == name).all()
    assert set(schema) <= set(pl.read_parquet("data/corpora/reference.parquet").columns)
    synth = json.loads(open("metrics/corpora/oracle_synth.json").read())
    assert synth["covered"] == synth["shared_problems"] == 10
    aligned = json.loads(open("metrics/corpora/style_aligned.json").read())
    assert aligned["dropped"]["refused"] == 1 and aligned["covered"] == 9  # toy-000003's failed trace is malformed
    assert 0 < aligned["mean_edit_distance"] < 0.5 and aligned["mean_judge_score"] >= 4
    corpus = pl.read_parquet("data/corpora/style_aligned.parquet")
    assert (corpus["parent_id"].str.starts_with("sample:").all()
            and corpus["prompt"].unique().to_list() == ["style_aligned@v1"])
    attempts = pl.read_parquet("data/attempts/style_aligned.parquet")
    assert attempts.filter(pl.col("drop_reason") == "refused")["problem_id"].to_list() == ["toy-000003"]
    refined = json.loads(open("metrics/corpora/oracle_refined.json").read())
    assert refined["mean_edit_distance"] > aligned["mean_edit_distance"]
    ref = json.loads(open("metrics/corpora/reference.json").read())
    assert ref["dropped"]["no_reference"] == 3 and ref["covered"] == 7  # problems 0, 4 and 8 have no solution


def test_the_oracle_swaps_to_another_engine_by_params(miniature_world, tiny_model_dir):
    from stages import corpus as corpus_stage

    params = Params.model_validate({"models": {"oracle": {"name": str(tiny_model_dir)}},
                                    "engines": {"oracle": {"engine": "hf"}}, "oracle": {"max_new_tokens": 8}})
    corpus_stage.candidates(params, "style_aligned")
    corpus_stage.main(params, "style_aligned")
    metrics = json.loads(open("metrics/corpora/style_aligned.json").read())
    assert metrics["engine"] == "hf" and metrics["model"] == str(tiny_model_dir)
    assert metrics["covered"] + sum(metrics["dropped"].values()) == 10  # an untrained model's replies all counted
    assert os.path.exists("data/attempts/style_aligned.parquet")


def test_a_reply_that_is_no_worked_solution_is_dropped_even_with_the_right_answer():
    from qup.corpora.shape import not_a_solution

    # what a 1.5B Oracle replied when asked to refine a student's trace (the real-CPU study)
    verdicts = ["\\boxed{75}", "Rosalina received \\(\\boxed{21}\\) gifts.",
                "The student's solution is correct. The number of shoes Clinton has is indeed 14.",
                "The student's solution has several errors. Let's correct them: 2 + 3 = 5\n\\boxed{5}",
                "The draft is correct as written: 3 + 2 = 5, so \\boxed{5}"]
    assert all(not_a_solution(v) for v in verdicts)
    worked = ["3 + 2 = 5\nAnswer: 5",
              "Step 1: Ana starts with 3 pens.\nStep 2: adding 2 gives 5.\nSo the final answer is $\\boxed{5}$."]
    assert not any(not_a_solution(s) for s in worked)
    attempts = pl.DataFrame([_attempt("verdict", "3 + 2 = 6\nAnswer: 6", "The student's solution is wrong: \\boxed{5}"),
                             _attempt("bare", "3 + 2 = 6\nAnswer: 6", "\\boxed{5}"),
                             _attempt("worked", "3 + 2 = 6\nAnswer: 6", "3 + 2 = 5\nAnswer: 5")])
    reasons = dict(zip(*grade_attempts(attempts, max_edit=None).select("problem_id", "drop_reason")))
    assert reasons == {"verdict": "not_a_solution", "bare": "not_a_solution", "worked": None}
    assert attempt_answer("3 + 2 = 6\nAnswer: 6") == "6" and attempt_answer("3 + 2 = 6 and then") == "no final answer"
    written = grade_attempts(attempts, max_edit=None, model_written=False)  # a dataset's solution: as it is
    assert written["drop_reason"].null_count() == 3
