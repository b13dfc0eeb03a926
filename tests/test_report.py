"""The report's table, correlations and sentence, and `qup inspect`."""

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from qup import paths
from qup.cli import app
from qup.config import DEFAULT_CORPORA
from qup.evaluation import MEASURES, RESULT_SCHEMA, accuracy_metrics
from qup.inspect import diff_markup
from qup.report import build_report
from qup.report.markdown import QUALITY_COLUMNS, interval_text, markdown_table
from qup.stats import spearman

CORPORA = dict(DEFAULT_CORPORA)  # the embedded study's five, with their kinds and roles


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)  # average ranks for the tie
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


P = 60  # test problems in the hand-built runs
SEEDS = [0, 1, 2]


def eval_results(accuracy: float, seeds, k: int = 4, shift: int = 0) -> pl.DataFrame:
    """Per-problem results in which problem i is solved by round(accuracy * k) samples, give or take one
    by problem (a shared difficulty) and by seed."""
    rows = []
    for seed in seeds:
        for i in range(P):
            right = min(k, max(0, round(accuracy * k) + (i % 3) - 1 + ((i + shift + (seed or 0)) % 2)))
            answers = ["5"] * right + ["7"] * (k - right)
            rows.append({"seed": seed, "problem_id": f"t{i}", "greedy_response": "", "greedy_answer": answers[0],
                         "greedy_correct": right > k / 2, "greedy_finish": "stop", "sample_answers": answers,
                         "samples_correct": [True] * right + [False] * (k - right), "n_correct": right,
                         "mean_tokens": 10.0})
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def trained(results: pl.DataFrame, objective: str = "sft") -> pl.DataFrame:
    """Results as evaluate@<corpus> writes them: each row names its checkpoint's training objective."""
    return results.with_columns(pl.lit(objective).alias("objective"))


def write_run(root, figures):
    """figures: corpus -> (reward, perplexity, avg_at_k); per-problem results for 3 seeds, the base SLM at 0.25."""
    for corpus, (reward, ppl, avg) in figures.items():
        quality = {"reward": {"toy_orm": {"mean": reward, "ci_low": reward - 0.01, "ci_high": reward + 0.01}},
                   "perplexity": {"mean": ppl, "ci_low": ppl - 0.1, "ci_high": ppl + 0.1},
                   **{q: {"mean": ppl} for q in ("ppl_q1", "ppl_q2", "ppl_q3", "ppl_q4")},
                   "style": {"char3_jsd": 0.1, "length_ratio": 1.0}}
        for path, data in [(paths.quality_metrics(corpus), quality),
                           (paths.corpus_metrics(corpus), {"covered": 90, "shared_problems": 100,
                                                           "mean_judge_score": 4.5})]:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(json.dumps(data))
        (root / paths.eval_results(corpus)).parent.mkdir(parents=True, exist_ok=True)
        trained(eval_results(avg, SEEDS, shift=len(corpus))).write_parquet(root / paths.eval_results(corpus))
    (root / paths.eval_metrics("base")).parent.mkdir(parents=True, exist_ok=True)
    (root / paths.eval_metrics("base")).write_text(json.dumps({"k": 4}))
    eval_results(0.25, [None]).write_parquet(root / paths.eval_results("base"))


def test_the_report_writes_intervals_paired_deltas_plots_and_the_summary_contract(tmp_path):
    figures = {"native": (0.5, 1.2, 0.50), "oracle_refined": (0.8, 2.0, 0.25), "oracle_synth": (0.9, 2.5, 0.25),
               "style_aligned": (0.55, 1.3, 0.75), "reference": (0.7, 3.0, 0.5)}
    write_run(tmp_path, figures)
    summary = build_report(CORPORA, ["reward_toy_orm"], root=tmp_path, resamples=500)
    assert summary["seeds"] == SEEDS and summary["n_test"] == P and summary["k"] == 4
    for name in CORPORA:
        row = summary["corpora"][name]
        assert {"mean", "ci_low", "ci_high"} <= set(row["avg_at_k"]) and "mean" in row["maj_at_k"]
        assert row["avg_at_k"]["ci_low"] <= row["avg_at_k"]["mean"] <= row["avg_at_k"]["ci_high"]
        for delta in ("delta_vs_native", "delta_vs_base"):
            assert {"mean", "ci_low", "ci_high", "p_value"} <= set(row[delta])
    synth = summary["corpora"]["oracle_synth"]
    assert synth["delta_vs_native"]["mean"] == pytest.approx(synth["avg_at_k"]["mean"]
                                                             - summary["corpora"]["native"]["avg_at_k"]["mean"])
    assert synth["delta_vs_native"]["ci_high"] < 0 and synth["delta_vs_native"]["p_value"] < 0.01
    assert summary["corpora"]["native"]["delta_vs_native"]["mean"] == 0
    assert summary["verdict"].startswith("The paradox: this run shows it")
    assert "against the best Oracle corpus (oracle_" in summary["verdict"] and "shows a gain" in summary["verdict"]
    assert 0 < summary["minimum_detectable_effect"] < 0.2
    rho = summary["spearman"]["perplexity_vs_avg_at_k"]
    assert rho["rho"] is not None and rho["ci_low"] < rho["rho"] < rho["ci_high"]
    text = (tmp_path / "reports/summary.md").read_text()
    assert summary["verdict"] in text and "| oracle_synth | 90 | 0.900 [0.890, 0.910] | 2.500 |" in text
    assert "Minimum detectable effect" in text and "| base SLM |" in text
    for png in ("utility.png", "reward_vs_accuracy.png", "perplexity_vs_accuracy.png"):
        assert (tmp_path / "reports/plots" / png).read_bytes()[:4] == b"\x89PNG"
    points = json.loads((tmp_path / "reports/plots/corpora.json").read_text())
    assert [p["corpus"] for p in points] == list(CORPORA) and points[0]["avg_at_k_low"] < points[0]["avg_at_k"]


def test_the_report_has_a_table_per_benchmark_and_their_average(tmp_path):
    figures = {"native": (0.5, 1.2, 0.75), "oracle_synth": (0.9, 2.5, 0.25)}
    write_run(tmp_path, figures)
    ood = {"native": 0.25, "oracle_synth": 0.0, "base": 0.0}
    for name in [*figures, "base"]:  # each evaluation also ran on a second benchmark, where every model does worse
        path = tmp_path / paths.eval_results(name)
        test = pl.read_parquet(path).with_columns(pl.lit("test").alias("benchmark"))
        other = eval_results(ood[name], [None] if name == "base" else SEEDS)
        other = (other if name == "base" else trained(other)).with_columns(pl.lit("ood").alias("benchmark"))
        pl.concat([test, other]).write_parquet(path)
    summary = build_report({n: CORPORA[n] for n in figures}, ["reward_toy_orm"], root=tmp_path, resamples=200)
    per = summary["benchmarks"]["per_benchmark"]
    assert list(per) == ["test", "ood"] and per["ood"]["n_problems"] == P
    assert per["test"]["models"]["native"]["avg_at_k"] == summary["corpora"]["native"]["avg_at_k"]
    assert per["ood"]["models"]["native"]["avg_at_k"]["mean"] < per["test"]["models"]["native"]["avg_at_k"]["mean"]
    assert per["ood"]["models"]["oracle_synth"]["delta_vs_native"]["ci_high"] < 0
    average = summary["benchmarks"]["average_avg_at_k"]["native"]
    both = [per[b]["models"]["native"]["avg_at_k"]["mean"] for b in per]
    assert average["mean"] == pytest.approx(sum(both) / 2) and average["ci_low"] < average["mean"] < average["ci_high"]
    text = (tmp_path / "reports/summary.md").read_text()
    assert "## Per benchmark" in text and f"**ood** ({P} problems)" in text
    assert "| model | test Avg@4 | ood Avg@4 | average Avg@4 [95% CI] |" in text


def test_every_row_of_the_table_has_a_cell_under_every_column():
    block = {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6}
    measures = {m: block for m in MEASURES}
    row = {"covered": 9, "reward": {"a": block, "b": block}, **{key: block for _, key in QUALITY_COLUMNS},
           **measures, "delta_vs_base": block}
    lines = markdown_table({"native": row}, measures, ["a", "b"], 4).splitlines()
    assert len({line.count("|") for line in lines}) == 1 and lines[-1].startswith("| base SLM | – | – |")


def test_the_report_names_a_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="eval/native.parquet: missing; run the stage that writes it"):
        build_report(CORPORA, ["reward_toy_orm"], root=tmp_path)


def test_a_corpus_evaluated_on_other_seeds_cannot_be_paired(tmp_path):
    write_run(tmp_path, {"native": (0.5, 1.2, 0.5), "oracle_synth": (0.9, 2.5, 0.25)})
    trained(eval_results(0.25, [0, 1])).write_parquet(tmp_path / paths.eval_results("oracle_synth"))
    with pytest.raises(ValueError, match="seeds"):
        build_report({n: CORPORA[n] for n in ("native", "oracle_synth")}, ["reward_toy_orm"], root=tmp_path,
                     resamples=50)


def test_accuracy_metrics_per_seed_and_pooled():
    results = pl.concat([eval_results(0.5, [0]), eval_results(0.75, [1])])
    m = accuracy_metrics(results, 4, resamples=200)
    assert m["n_test"] == P and m["seeds"] == [0, 1]
    expected = (results["n_correct"].sum() / 4) / results.height
    assert m["avg_at_k"]["mean"] == pytest.approx(expected) and m["avg_at_k"]["se"] > 0
    assert m["per_seed"]["0"]["avg_at_k"] < m["per_seed"]["1"]["avg_at_k"]
    # with k samples, unbiased pass@k is "any right"; maj@k follows the majority answer, and a 2-2 tie
    # goes to the answer seen first (here the right one)
    assert m["pass_at_k"]["mean"] == pytest.approx(float((results["n_correct"] > 0).mean()))
    assert m["maj_at_k"]["mean"] == pytest.approx(float((results["n_correct"] >= 2).mean()))


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
    (tmp_path / "params.yaml").write_text(
        "corpora: {native: {kind: native}, oracle_synth: {kind: oracle, prompt: synthesize},\n"
        "          style_aligned: {kind: oracle, prompt: style_aligned, source: failed, role: remedy}}\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["inspect", "p1"])
    assert result.exit_code == 0, result.output
    assert "SLM source trace" in result.output and "6 - 1 = 4" in result.output
    assert "== style_aligned  toy_orm=0.250  perplexity=1.500  edit_distance=0.100" in result.output
    assert "6 - 1 = [-4-][+5+]" in result.output
    assert CliRunner().invoke(app, ["inspect", "nope"]).exit_code == 2
    assert "p1" in CliRunner().invoke(app, ["inspect", "--random"]).output


def test_a_result_given_twice_is_an_error_not_an_overwrite():
    results = pl.concat([eval_results(0.5, [0]), eval_results(0.5, [0]).head(1)])
    with pytest.raises(ValueError, match="two results for seed 0, problem t0"):
        accuracy_metrics(results, 4, resamples=50)


def test_the_report_says_which_pre_training_signal_predicts_utility(tmp_path):
    # reward rises with utility over the five corpora, perplexity falls with it; one corpus has a select score
    figures = {"native": (0.5, 1.6, 0.0), "oracle_refined": (0.6, 1.4, 0.25), "oracle_synth": (0.7, 1.3, 0.5),
               "style_aligned": (0.8, 1.2, 0.75), "reference": (0.9, 1.1, 1.0)}
    write_run(tmp_path, figures)
    (tmp_path / paths.corpus_metrics("reference")).write_text(json.dumps({"covered": 90, "mean_select_score": 0.4}))
    summary = build_report(CORPORA, ["reward_toy_orm"], root=tmp_path, resamples=200)
    signals = summary["signals"]
    assert signals["reward (toy_orm)"]["rho"] == pytest.approx(1.0) and signals["reward (toy_orm)"]["n"] == 5
    assert signals["reward (toy_orm)"]["word"] == "predicts" and signals["perplexity"]["word"] == "predicts"
    assert signals["select score"]["n"] == 1 and signals["select score"]["word"] == "cannot tell"
    assert signals["style JSD (char-3)"]["rho"] is None  # every corpus has the same JSD
    text = (tmp_path / "reports/summary.md").read_text()
    mechanism, rest = text.split("**Which signal predicts utility**")
    assert "- toy orm vs avg at k: +1.00" in mechanism and rest.index("## Per benchmark") > 0
    assert "| reward (toy_orm) | 5 | +1.00 | + | predicts |" in rest and "| select score | 1 | n/a |" in rest


GOLDEN = Path(__file__).parent / "golden/one_objective_summary.md"
FIVE = {"native": (0.5, 1.2, 0.50), "oracle_refined": (0.8, 2.0, 0.25), "oracle_synth": (0.9, 2.5, 0.25),
        "style_aligned": (0.55, 1.3, 0.75), "reference": (0.7, 3.0, 0.5)}


def with_ood_benchmark(root, names):
    """Each evaluation also ran on a second benchmark, ``ood``, where every model solves a quarter."""
    for name in names:
        path = root / paths.eval_results(name)
        test = pl.read_parquet(path).with_columns(pl.lit("test").alias("benchmark"))
        other = eval_results(0.25, [None] if name == "base" else SEEDS)
        other = (other if name == "base" else trained(other)).with_columns(pl.lit("ood").alias("benchmark"))
        pl.concat([test, other]).write_parquet(path)


def test_a_run_of_one_objective_renders_its_summary_as_before_objectives_existed(tmp_path):
    # the golden file is what the report wrote of these fixtures before train.objectives, byte for byte
    write_run(tmp_path, FIVE)
    with_ood_benchmark(tmp_path, [*FIVE, "base"])
    summary = build_report(CORPORA, ["reward_toy_orm"], root=tmp_path, resamples=200)
    assert (tmp_path / "reports/summary.md").read_text() == GOLDEN.read_text()
    assert list(summary["objectives"]) == ["sft"] and summary["objectives"]["sft"]["verdict"] == summary["verdict"]


def test_a_run_of_two_objectives_reports_each_paired_within_itself_the_primary_first(tmp_path):
    # under sft the Oracle corpora train to less than native (the paradox); under dft to more (it does not show)
    dft = {"native": 0.25, "oracle_refined": 0.75, "oracle_synth": 0.75, "style_aligned": 0.5, "reference": 0.25}
    write_run(tmp_path, FIVE)
    one = build_report(CORPORA, ["reward_toy_orm"], root=tmp_path, resamples=200)
    for name, avg in dft.items():
        path = tmp_path / paths.eval_results(name)
        both = [pl.read_parquet(path), trained(eval_results(avg, SEEDS, shift=len(name)), "dft")]
        pl.concat(both).write_parquet(path)
    summary = build_report(CORPORA, ["reward_toy_orm"], root=tmp_path, resamples=200)
    assert list(summary["objectives"]) == ["sft", "dft"]
    # the top level is the primary objective's, as a run of it alone reports it
    assert summary["corpora"] == one["corpora"] and summary["verdict"] == one["verdict"]
    sft, dft_view = summary["objectives"]["sft"], summary["objectives"]["dft"]
    assert sft["verdict"] == one["verdict"] and sft["verdict"].startswith("The paradox: this run shows it")
    assert dft_view["verdict"].startswith("The paradox: this run does not show it")
    assert dft_view["verdicts"]["paradox"]["corpora"]["oracle_synth"]["delta_side"] == "above"
    synth = dft_view["corpora"]["oracle_synth"]
    assert synth["delta_vs_native"]["mean"] == pytest.approx(synth["avg_at_k"]["mean"]
                                                             - dft_view["corpora"]["native"]["avg_at_k"]["mean"])
    assert "reward" not in synth and dft_view["base"] == sft["base"]  # quality is the corpus's; the base SLM is one
    text = (tmp_path / "reports/summary.md").read_text()
    assert text.index("**sft** (primary): The paradox: this run shows it") < text.index(sft["adaptation"]) < text.index(
        "**dft**: The paradox: this run does not show it") < text.index(dft_view["adaptation"])
    head = next(line for line in text.splitlines() if line.startswith("| corpus | problems |"))
    assert head.endswith("| sft greedy | sft Avg@4 [95% CI] | sft Δ Avg@4 vs native "
                         "| dft greedy | dft Avg@4 [95% CI] | dft Δ Avg@4 vs native |")
    table = [line for line in text.splitlines() if line.startswith("| ")][:7]
    assert len({line.count("|") for line in table}) == 1 and table[-1].startswith("| base SLM |")
    native = next(line for line in table if line.startswith("| native |")).split(" | ")
    dft_native = dft_view["corpora"]["native"]
    assert native[-4:] == ["–", f"{dft_native['greedy_accuracy']['mean']:.3f}", interval_text(dft_native["avg_at_k"]),
                           "– |"]
    assert "### sft" in text and text.index("### sft") < text.index("### dft")


def test_corpora_evaluated_under_other_objectives_cannot_be_paired(tmp_path):
    write_run(tmp_path, {"native": (0.5, 1.2, 0.5), "oracle_synth": (0.9, 2.5, 0.25)})
    trained(eval_results(0.25, SEEDS), "dft").write_parquet(tmp_path / paths.eval_results("oracle_synth"))
    with pytest.raises(ValueError, match=r"oracle_synth.parquet: objectives \['dft'\], but other corpora have "
                                         r"\['sft'\]"):
        build_report({n: CORPORA[n] for n in ("native", "oracle_synth")}, ["reward_toy_orm"], root=tmp_path,
                     resamples=50)


def test_several_select_corpora_give_a_lambda_sweep_table_and_plot(tmp_path):
    from qup.config import Params

    corpora = Params.model_validate({"corpora": {
        **{name: spec.model_dump(by_alias=True) for name, spec in CORPORA.items()},
        "select_l4": {"kind": "select", "lambda": 4.0}, "select_l0": {"kind": "select", "lambda": 0.0},
        "select_l1": {"kind": "select", "lambda": 1.0}}}).corpora
    figures = {"native": (0.5, 1.2, 0.50), "oracle_refined": (0.8, 2.0, 0.25), "oracle_synth": (0.9, 2.5, 0.25),
               "style_aligned": (0.55, 1.3, 0.75), "reference": (0.7, 3.0, 0.5),
               "select_l0": (0.9, 2.5, 0.25), "select_l1": (0.6, 1.3, 0.5), "select_l4": (0.5, 1.2, 0.75)}
    write_run(tmp_path, figures)
    summary = build_report(corpora, ["reward_toy_orm"], root=tmp_path, resamples=300)
    sweep = summary["select_sweep"]
    assert [p["lambda"] for p in sweep] == [0.0, 1.0, 4.0]  # ordered by lambda, not as declared
    assert sweep[0]["delta_vs_native"]["ci_high"] < 0 < sweep[2]["delta_vs_native"]["ci_low"]
    text = (tmp_path / "reports/summary.md").read_text()
    assert "## The select λ sweep" in text and "| 0 | select_l0 |" in text and "| 4 | select_l4 |" in text
    assert (tmp_path / "reports/plots/select_lambda.png").read_bytes()[:4] == b"\x89PNG"


def test_one_select_corpus_gives_no_sweep(tmp_path):
    from qup.config import Params

    corpora = Params.model_validate({"corpora": {
        **{name: spec.model_dump(by_alias=True) for name, spec in CORPORA.items()},
        "select_l1": {"kind": "select", "lambda": 1.0}}}).corpora
    write_run(tmp_path, {"native": (0.5, 1.2, 0.5), "oracle_refined": (0.8, 2.0, 0.25),
                         "oracle_synth": (0.9, 2.5, 0.25), "style_aligned": (0.55, 1.3, 0.75),
                         "reference": (0.7, 3.0, 0.5), "select_l1": (0.6, 1.3, 0.5)})
    summary = build_report(corpora, ["reward_toy_orm"], root=tmp_path, resamples=300)
    assert "select_sweep" not in summary and "λ sweep" not in (tmp_path / "reports/summary.md").read_text()
    assert not (tmp_path / "reports/plots/select_lambda.png").exists()
