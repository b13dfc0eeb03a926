import json

from typer.testing import CliRunner

from qup.cli import app

runner = CliRunner()


def dirty_gsm8k(tmp_path, n_good=19):
    lines = [json.dumps({"question": f"Ann has {i} pens. How many?", "answer": f"#### {i}"}) for i in range(n_good)]
    lines.insert(3, '{"question": "oops"')
    path = tmp_path / "dirty.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_report_lists_rejected_rows_and_passes_within_threshold(tmp_path):
    path = dirty_gsm8k(tmp_path)
    result = runner.invoke(app, ["problems", "check", str(path), "--format", "gsm8k", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["accepted"], report["rejected"]) == (19, 1)
    assert report["rejected_rows"][0]["row"] == 4
    assert "not valid JSON" in report["rejected_rows"][0]["reason"]


def test_human_report_fails_over_threshold_and_writes_nothing(tmp_path):
    path = dirty_gsm8k(tmp_path, n_good=5)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["problems", "check", str(path), "--format", "gsm8k",
                                 "--max-rejected-share", "0.1"])
    assert result.exit_code == 1
    assert "5 accepted, 1 rejected of 6 rows" in result.output
    assert "row 4: line is not valid JSON" in result.output
    assert "FAILED" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_csv_with_column_mapping(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("prompt,final\nWhat is 2+2?,4\nWhat is 3+3?,\n")
    result = runner.invoke(app, ["problems", "check", str(path), "--format", "csv", "-c", "question=prompt",
                                 "-c", "answer=final", "--json", "--max-rejected-share", "0.5"])
    report = json.loads(result.output)
    assert (report["accepted"], report["rejected"], result.exit_code) == (1, 1, 0)
    assert report["rejected_rows"][0] == {"row": 2, "id": None, "field": "answer", "kind": "missing gold answer",
                                          "reason": "missing gold answer: neither an answer nor a solution field"}


def test_missing_file_exits_2(tmp_path):
    result = runner.invoke(app, ["problems", "check", str(tmp_path / "none.jsonl"), "--format", "jsonl"])
    assert result.exit_code == 2


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "problems" in result.output and "version" in result.output


def test_number_word_gold_is_rejected_and_reasons_group_by_kind(tmp_path):
    rows = [{"question": f"Ann has {i} pens. How many?", "answer": f"#### {i}"} for i in range(8)]
    rows.append({"question": "Bo has five cats. How many?", "answer": "#### five"})
    rows += [{"question": "Q" * n, "answer": "#### 1"} for n in (120, 130)]
    path = tmp_path / "g.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["problems", "check", str(path), "--format", "gsm8k", "--max-chars", "100",
                                 "--max-rejected-share", "0.5"])
    assert result.exit_code == 0, result.output
    assert "row 9, field answer: ungradable gold answer 'five': a number written in words" in result.output
    assert "by reason: question too long (2), ungradable gold answer (1)" in result.output
