"""Loaders on small files written here, in every shape, and every validation rule."""

import json

import polars as pl
import pytest

from qup.problems.files import read_rows
from qup.problems.validate import validate_rows


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def check(path, shape="columns", **kw):
    return validate_rows(read_rows(path), source=path.stem, file=str(path), shape=shape, **kw)


def test_gsm8k_shape(tmp_path):
    path = write_jsonl(tmp_path / "gsm.jsonl", [
        {"question": "Ann has 3 pens and buys 4. How many?", "answer": "3+4=7\n#### 7"},
        {"question": "A farm has 1,200 hens.  How many?", "answer": "It has 1,200.\n#### 1,200"},
    ])
    result = check(path, "gsm8k")
    assert not result.rejected
    first, second = result.accepted
    assert (first["answer"], first["solution"], first["source"]) == ("7", "3+4=7", "gsm")
    assert second["answer"] == "1200"
    assert first["id"] == "gsm-000001"


def test_math_shape_takes_the_last_boxed_answer_with_nested_braces(tmp_path):
    path = write_jsonl(tmp_path / "math.jsonl", [
        {"problem": "Compute 1/2+1/4.", "solution": "First \\boxed{1} no, $\\boxed{\\frac{3}{4}}$.",
         "level": "Level 2", "type": "Algebra"},
    ])
    (row,) = check(path, "math").accepted
    assert row["answer"] == "\\frac{3}{4}"
    assert (row["level"], row["type"]) == ("Level 2", "Algebra")
    assert row["solution"].startswith("First")


def test_csv_and_parquet_with_a_column_mapping(tmp_path):
    frame = pl.DataFrame({"uid": ["a", "b"], "prompt": ["What is 2+2?", "What is 3*3?"], "final": ["4", "9"]})
    frame.write_csv(tmp_path / "p.csv")
    frame.write_parquet(tmp_path / "p.parquet")
    mapping = {"id": "uid", "question": "prompt", "answer": "final"}
    for name in ("p.csv", "p.parquet"):
        result = check(tmp_path / name, columns=mapping)
        assert [(r["id"], r["answer"]) for r in result.accepted] == [("a", "4"), ("b", "9")]


def test_every_rule_rejects_with_row_field_and_reason(tmp_path):
    long_question = "x" * 101
    path = write_jsonl(tmp_path / "dirty.jsonl", [
        {"id": "1", "question": "What is 1+1?", "answer": "2"},          # 1 ok
        '{"id": "2", "question": "broken',                                # 2 not JSON
        {"id": "3", "question": "   ", "answer": "1"},                    # 3 empty question
        {"id": "4", "question": "What is 2+2?"},                          # 4 no gold
        {"id": "1", "question": "What is 5+5?", "answer": "10"},          # 5 duplicate id
        {"id": "6", "question": "what is  1+1?", "answer": "2"},          # 6 duplicate question
        {"id": "7", "prompt": "What is 3+3?", "answer": "6"},             # 7 missing field
        {"id": "8", "question": ["What", "is"], "answer": "6"},           # 8 wrong type
        {"id": "9", "question": long_question, "answer": "6"},            # 9 over-long
        "[1, 2]",                                                         # 10 not an object
        {"id": "11", "question": "What is 4+4?", "solution": "It is 8."}, # 11 unparseable gold
    ])
    result = check(path, max_chars=100)
    assert [r["id"] for r in result.accepted] == ["1"]
    got = {r["row"]: (r["field"], r["reason"]) for r in result.rejected}
    assert got[2][1].startswith("line is not valid JSON")
    assert got[3] == ("question", "empty question")
    assert got[4][0] == "answer" and "missing gold answer" in got[4][1]
    assert got[5] == ("id", "duplicate id '1' (first seen at row 1)")
    assert got[6] == ("question", "duplicate question (same as row 1)")
    assert got[7] == ("question", "missing field 'question'")
    assert got[8] == ("question", "field 'question' must be text, got list")
    assert got[9] == ("question", "question is 101 characters, over the limit of 100")
    assert "not an object" in got[10][1]
    assert got[11][0] == "solution" and "unparseable gold answer" in got[11][1]
    assert all(r["file"] == str(path) for r in result.rejected)
    assert result.rejected_share == pytest.approx(10 / 11)


def test_gsm8k_answer_without_marker_is_unparseable(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"question": "Q?", "answer": "the answer is 5"}])
    (rejected,) = check(path, "gsm8k").rejected
    assert rejected["field"] == "answer" and "####" in rejected["reason"]


def test_missing_file_and_unknown_extension_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_rows(tmp_path / "nope.jsonl")
    odd = tmp_path / "data.txt"
    odd.write_text("x")
    with pytest.raises(ValueError, match="cannot tell the file type"):
        read_rows(odd)


@pytest.mark.parametrize("gold, ok", [("five", False), ("twenty-five", False), ("one half", False), ("5", True),
                                      ("\\text{Monday}", True), ("2xy + 10x", True), ("\\frac{1}{2}", True)])
def test_gold_answers_must_be_gradable(tmp_path, gold, ok):
    path = write_jsonl(tmp_path / "g.jsonl", [{"question": "Q?", "answer": gold}])
    result = check(path)
    assert len(result.accepted) == ok
    if not ok:
        (rejected,) = result.rejected
        assert (rejected["field"], rejected["kind"]) == ("answer", "ungradable gold answer")


def test_solutions_have_their_own_length_limit(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"problem": "Q?", "solution": "x" * 150 + " \\boxed{3}"}])
    assert len(check(path, "math", max_chars=100).accepted) == 1
    (rejected,) = check(path, "math", max_chars=100, max_solution_chars=120).rejected
    assert (rejected["field"], rejected["kind"]) == ("solution", "solution too long")


def test_max_solution_lines_selects_the_short_solutions_and_counts_the_rest(tmp_path):
    from qup.config import Params
    from qup.problems import build_problem_set

    rows = [{"question": f"Q{i}: Ann has {i} pens and buys 4. How many?",
             "answer": "\n".join(f"step {s}" for s in range(1 + i % 3)) + f"\n#### {i + 4}"} for i in range(12)]
    path = write_jsonl(tmp_path / "gsm.jsonl", rows)
    params = Params().model_copy(update={"problems": Params().problems.model_copy(update={
        "source": "file", "file": Params().problems.file.model_copy(update={"path": str(path), "shape": "gsm8k"}),
        "max_solution_lines": 2, "test_fraction": 0.25})})
    problems = build_problem_set(params)
    kept = pl.concat([problems.train, problems.test])
    assert kept.height == 8 and problems.n_over_max_lines == 4  # i % 3 == 2: three lines, left out
    assert all(s.count("\n") < 2 for s in kept["solution"])
    with pytest.raises(ValueError, match="no problem has a written solution of at most 1 lines"):
        build_problem_set(params.model_copy(update={"problems": params.problems.model_copy(update={
            "max_solution_lines": 1, "file": params.problems.file.model_copy(update={"path": str(write_jsonl(
                tmp_path / "long.jsonl", [{"question": "Q?", "answer": "a\nb\n#### 1"}]))})})}))
