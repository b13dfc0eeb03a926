import json

import pytest

from qup.config import Params
from qup.problems import TooManyRejected, build_problem_set


def params(**problems):
    return Params.model_validate({"seed": 1, "problems": {"n_train": 40, "n_test": 10, **problems}})


def test_toy_split_is_deterministic_and_disjoint():
    a, b = build_problem_set(params()), build_problem_set(params())
    assert a.train.equals(b.train) and a.test.equals(b.test)
    assert (a.train.height, a.test.height) == (40, 10)
    assert not set(a.train["question"]) & set(a.test["question"])
    assert a.train["meta"].null_count() == 0 and a.train["source"].unique().to_list() == ["toy"]
    other = build_problem_set(Params.model_validate({"seed": 2, "problems": {"n_train": 40, "n_test": 10}}))
    assert not other.test.equals(a.test)


def test_file_source_split_by_fraction_keeps_duplicates_out(tmp_path):
    rows = [{"question": f"What is {i} plus one?", "answer": f"#### {i + 1}"} for i in range(30)]
    rows.append({"question": "WHAT is 0   plus one?", "answer": "#### 1"})
    path = tmp_path / "g.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    problems = build_problem_set(params(source="file", test_fraction=0.2, n_train=100,
                                        file={"path": str(path), "shape": "gsm8k"}))
    assert (problems.train.height, problems.test.height) == (24, 6)
    assert problems.rejected["reason"].to_list() == ["duplicate question (same as row 1)"]
    questions = [q.lower() for q in problems.train["question"].to_list() + problems.test["question"].to_list()]
    assert len(set(questions)) == 30


def test_too_many_rejected_fails_with_counts_and_keeps_the_rejected_rows(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"question": "Q1?", "answer": "#### 1"}\n{"question": "Q2?", "answer": "no marker"}\n')
    with pytest.raises(TooManyRejected, match=r"rejected 1 of 2 rows \(50.0%\).*row 2, field answer") as err:
        build_problem_set(params(source="file", file={"path": str(path), "shape": "gsm8k"}))
    assert err.value.rejected["row"].to_list() == [2]


def test_unknown_params_key_is_an_error(tmp_path):
    from qup.config import ParamsError, load_params

    bad = tmp_path / "params.yaml"
    bad.write_text("problems:\n  n_trian: 5\n")
    with pytest.raises(ParamsError, match="problems.n_trian"):
        load_params(bad)
