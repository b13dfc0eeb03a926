"""The report's table, correlations and sentence, and `qup inspect`."""

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from qup.cli import app
from qup.evaluation import accuracy_metrics
from qup.inspect import diff_markup
from qup.report import build_report, verdict
from qup.stats import spearman

CORPORA = ["native", "oracle_refined", "oracle_synth", "style_aligned", "reference"]


def row(corpus, reward, avg):
    return {"corpus": corpus, "reward_toy": reward, "avg_at_k": avg}


def test_the_sentence_follows_the_numbers():
    shown = verdict([row("native", 0.5, 0.30), row("oracle_refined", 0.8, 0.20), row("oracle_synth", 0.9, 0.25),
                     row("style_aligned", 0.5, 0.31)], "reward_toy", 4)
    assert shown.startswith("This run shows the paradox: oracle_refined and oracle_synth score higher than native")
    assert "(0.200, 0.250 vs 0.300)" in shown and "style-aligned refinement recovers the utility" in shown
    partly = verdict([row("native", 0.5, 0.30), row("oracle_synth", 0.9, 0.20), row("style_aligned", 0.5, 0.25)],
                     "reward_toy", 4)
    assert "shows the paradox: oracle_synth scores higher" in partly and "recovers part of it" in partly
    not_shown = verdict([row("native", 0.5, 0.30), row("oracle_synth", 0.9, 0.35), row("style_aligned", 0.5, 0.10)],
                        "reward_toy", 4)
    assert not_shown.startswith("This run does not show the paradox") and "does not recover it" in not_shown
    lower_reward = verdict([row("native", 0.5, 0.30), row("oracle_synth", 0.4, 0.20)], "reward_toy", 4)
    assert "does not show the paradox" in lower_reward and "no style-aligned corpus" in lower_reward


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)  # average ranks for the tie
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def write_metrics(root, figures):
    """figures: corpus -> (reward, perplexity, avg_at_k)."""
    for corpus, (reward, ppl, avg) in figures.items():
        quality = {"reward": {"toy_orm": {"mean": reward}}, "perplexity": {"mean": ppl},
                   **{q: {"mean": ppl} for q in ("ppl_q1", "ppl_q2", "ppl_q3", "ppl_q4")},
                   "style": {"char3_jsd": 0.1, "length_ratio": 1.0}}
        for path, data in [(f"quality/{corpus}.json", quality),
                           (f"eval/{corpus}.json", {"greedy_accuracy": avg, "avg_at_k": avg, "k": 4}),
                           ("native.json" if corpus == "native" else f"corpora/{corpus}.json",
                            {"covered": 90, "shared_problems": 100, "mean_judge_score": 4.5})]:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(json.dumps(data))
    (root / "eval/base.json").write_text(json.dumps({"greedy_accuracy": 0.2, "avg_at_k": 0.1, "k": 4}))


def test_the_report_writes_its_table_plots_and_correlations(tmp_path):
    figures = {"native": (0.5, 1.2, 0.30), "oracle_refined": (0.8, 2.0, 0.20), "oracle_synth": (0.9, 2.5, 0.15),
               "style_aligned": (0.55, 1.3, 0.28), "reference": (0.7, 3.0, 0.10)}
    write_metrics(tmp_path / "metrics", figures)
    summary = build_report(CORPORA, ["reward_toy_orm"], root=tmp_path)
    assert summary["spearman"]["perplexity_vs_avg_at_k"] == pytest.approx(-1.0)
    assert summary["spearman"]["toy_orm_vs_avg_at_k"] == pytest.approx(-0.7)  # 1 - 6 * 34 / (5 * 24)
    assert summary["corpora"]["oracle_synth"]["delta_avg_at_k"] == pytest.approx(0.05)
    text = (tmp_path / "reports/summary.md").read_text()
    assert summary["verdict"] in text and "| oracle_synth | 90 | 0.900 | 2.500 |" in text
    assert "recovers part of it" in summary["verdict"]
    for png in ("reward_vs_accuracy.png", "perplexity_vs_accuracy.png"):
        assert (tmp_path / "reports/plots" / png).read_bytes()[:4] == b"\x89PNG"
    points = json.loads((tmp_path / "reports/plots/corpora.json").read_text())
    assert [p["corpus"] for p in points] == CORPORA and points[0]["avg_at_k"] == 0.30


def test_the_report_names_a_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="eval/base.json"):
        build_report(CORPORA, ["reward_toy_orm"], root=tmp_path)


def test_accuracy_metrics():
    results = pl.DataFrame({"greedy_correct": [True, False, False, True], "n_correct": [4, 0, 1, 2],
                            "greedy_finish": ["stop", "length", "stop", "stop"],
                            "mean_tokens": [10.0, 20.0, 30.0, 40.0]})
    m = accuracy_metrics(results, 4)
    assert m["greedy_accuracy"] == 0.5 and m["avg_at_k"] == pytest.approx(7 / 16) and m["pass_at_k"] == 0.75
    assert m["greedy_truncated"] == 0.25


def test_diff_markup():
    assert diff_markup("5 - 4 = 3\nAnswer: 3", "5 - 4 = 1\nAnswer: 1") == "5 - 4 = [-3-][+1+]\nAnswer: [-3-][+1+]"
    assert diff_markup("same", "same") == "same"


def test_inspect_shows_every_corpus_beside_the_source(tmp_path, monkeypatch):
    (tmp_path / "data/problems").mkdir(parents=True)
    (tmp_path / "data/corpora").mkdir(parents=True)
    pl.DataFrame({"id": ["p1"], "question": ["Ivy has 6 marbles. Ivy loses 1. How many marbles now?"],
                  "answer": ["5"]}).write_parquet(tmp_path / "data/problems/train.parquet")
    pl.DataFrame({"problem_id": ["p1"], "trace_id": ["native:p1:0"],
                  "response": ["6 - 1 = 5\nAnswer: 5"]}).write_parquet(tmp_path / "data/corpora/native.parquet")
    pl.DataFrame({"problem_id": ["p1"], "trace_id": ["style_aligned:p1"], "response": ["6 - 1 = 5\nAnswer: 5"],
                  "source_response": ["6 - 1 = 4\nAnswer: 4"], "parent_id": ["sample:p1:2"]}).write_parquet(
        tmp_path / "data/corpora/style_aligned.parquet")
    (tmp_path / "data/scores").mkdir()
    pl.DataFrame({"trace_id": ["style_aligned:p1"], "reward_toy_orm": [0.25], "perplexity": [1.5],
                  "edit_distance": [0.1]}).write_parquet(tmp_path / "data/scores/style_aligned.parquet")
    (tmp_path / "params.yaml").write_text("corpora: [native, oracle_synth, style_aligned]\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["inspect", "p1"])
    assert result.exit_code == 0, result.output
    assert "SLM source trace" in result.output and "6 - 1 = 4" in result.output
    assert "== style_aligned  toy_orm=0.250  perplexity=1.500  edit_distance=0.100" in result.output
    assert "6 - 1 = [-4-][+5+]" in result.output
    assert CliRunner().invoke(app, ["inspect", "nope"]).exit_code == 2
    assert "p1" in CliRunner().invoke(app, ["inspect", "--random"]).output
