"""`qup plan`: calls, tokens, cost and GPU-hours of the stages about to run, checked on the figures a user reads."""

import json
from pathlib import Path

import polars as pl
import pytest

from qup import paths, plan
from qup.config import Params
from qup.records import SAMPLE_SCHEMA, problems_frame

GPT = {"prompt": 2.5, "completion": 10.0}  # USD per million tokens
NUMINA_SIZED = {
    "problems": {"source": "hf", "hf": {"preset": "numina"}, "n_train": 100_000, "n_test": 500},
    "models": {"slm": {"name": "Qwen/Qwen2.5-1.5B-Instruct"}, "oracle": {"name": "gpt-4o"}},
    "engines": {"slm": {"engine": "vllm"},
                "oracle": {"engine": "openai", "openai": {"base_url": "https://api.openai.com/v1"}}},
    "native": {"prompt": "solve", "max_new_tokens": 2048},
    "oracle": {"max_new_tokens": 2048},
    "costs": {"prices": {"gpt-4o": GPT}},
    "scoring": {"reward_models": [{"name": "Qwen/Qwen2.5-Math-RM-72B"}]},
}


def rows_by_stage(result: plan.Plan) -> dict[str, plan.Row]:
    return {row.stage: row for row in result.rows}


def evaluated(params: Params) -> int:
    """Test problems and benchmark problems each checkpoint answers."""
    return params.problems.n_test + sum(b.max_problems or 0 for b in params.evaluate.benchmarks)


def test_the_embedded_study_before_anything_ran(tmp_path):
    params = Params()
    result = plan.plan(params, plan.pipeline_stages(params), root=tmp_path)
    rows = rows_by_stage(result)
    assert rows["native"].calls == 600 * 8 and rows["native"].model == "toy"
    assert rows["corpus@oracle_synth"].calls == 300  # 600 problems × the assumed solve rate 0.5
    assert rows["corpus@oracle_refined"].calls == rows["corpus@style_aligned"].calls == 2 * 300  # and a judge call each
    assert rows["evaluate_base"].calls == evaluated(params) * (1 + params.evaluate.k)
    assert rows["evaluate@native"].calls == evaluated(params) * (1 + params.evaluate.k) * 3
    assert rows["train@native"].calls == 300 * 3 and rows["score@native"].calls == 300 * 2
    assert rows["problems"].calls == 0 and rows["problems"].note == "no model calls"
    assert all(row.cost_usd == 0 for row in result.rows)  # nothing in costs.prices
    assert rows["corpus@oracle_synth"].gpu_hours == 0 and rows["native"].gpu_hours > 0  # symbolic: no GPU
    text = plan.render(result)
    assert "4,800" in text and "solve rate assumed 0.50" in text and "questions: mean" in text
    assert "from the toy world" in text


def test_measured_lengths_and_solve_rate_come_from_the_samples_already_drawn(tmp_path):
    for path, n in ((paths.TRAIN_PROBLEMS, 40), (paths.TEST_PROBLEMS, 10)):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        problems_frame([{"id": f"p{i}", "source": "t", "question": "Ana has 3 pens. How many?", "answer": "3"}
                        for i in range(n)]).write_parquet(tmp_path / path)
    samples = pl.DataFrame([{"problem_id": f"p{i}", "sample": j, "response": "3 + 0 = 3\nAnswer: 3", "n_tokens": 20,
                             "correct": i < 30, "model": "toy"} for i in range(40) for j in range(8)],
                           schema_overrides={k: v for k, v in SAMPLE_SCHEMA.items() if k in ("n_tokens", "sample")})
    (tmp_path / paths.NATIVE_SAMPLES).parent.mkdir(parents=True)
    samples.write_parquet(tmp_path / paths.NATIVE_SAMPLES)
    rows = rows_by_stage(plan.plan(Params(), ["native", "corpus@oracle_synth"], root=tmp_path))
    assert rows["native"].calls == 40 * 8 and rows["native"].completion_tokens == 40 * 8 * 20
    assert rows["native"].prompt_tokens == 40 * 8  # a request per problem: Ana has 3 pens . How many ?
    assert rows["corpus@oracle_synth"].calls == 30  # the problems the SLM solved


def test_a_numina_sized_study_with_a_gpt_class_oracle_shows_its_cost(tmp_path):
    params = Params.model_validate(NUMINA_SIZED)
    result = plan.plan(params, plan.pipeline_stages(params), root=tmp_path)
    rows = rows_by_stage(result)
    assert rows["native"].calls == 100_000 * 8 and rows["native"].cost_usd == 0  # the SLM runs locally
    assert rows["native"].completion_tokens == 100_000 * 8 * 1024  # max_new_tokens/2, assumed
    synth = rows["corpus@oracle_synth"]
    assert synth.model == "gpt-4o" and synth.calls == 50_000 and synth.gpu_hours == 0
    assert synth.completion_tokens == 50_000 * 1024
    assert synth.cost_usd == pytest.approx((synth.prompt_tokens * 2.5 + synth.completion_tokens * 10.0) / 1e6)
    assert synth.cost_usd > 512  # the replies alone: 51.2M tokens at $10 per million
    refined = rows["corpus@oracle_refined"]
    assert refined.calls == 100_000 and refined.cost_usd > synth.cost_usd  # the judge's calls, longer prompts
    text = plan.render(result)
    oracle_cost = sum(rows[f"corpus@{s}"].cost_usd for s in plan.oracle_corpora(params))
    assert f"${synth.cost_usd:,.2f}" in text and "total" in text and f"${oracle_cost:,.2f}" in text
    assert "questions: assumed 100 tokens (hub dataset numina" in text


REPO = Path(__file__).resolve().parents[1]


def test_only_the_stages_dvc_finds_changed_and_those_downstream_are_planned(monkeypatch):
    changed = {"native": [{"changed deps": {"params.yaml": {"native.k": "modified"}}}]}
    monkeypatch.setattr(plan, "_dvc", lambda args, root: json.dumps(changed))
    stages = plan.stages_to_run(REPO)  # the order and edges come from DVC's own graph of dvc.yaml
    assert stages[0] == "native" and stages[-1] == "report"
    assert "problems" not in stages and "models" not in stages and "evaluate_base" not in stages
    for name in Params().corpora:
        assert stages.index(f"corpus@{name}") < stages.index(f"score@{name}") < stages.index(f"evaluate@{name}")
    monkeypatch.setattr(plan, "_dvc", lambda args, root: "{}")
    assert plan.stages_to_run(REPO) == []
    assert plan.render(plan.plan(Params(), [])) == "Every stage is up to date: nothing will run."


def test_the_pipeline_of_other_params_comes_from_dvc_yaml_with_those_params():
    params = Params.model_validate({"corpora": {"native": {"kind": "native"}, "terse": {"kind": "oracle",
                                                                                       "prompt": "refine"}}})
    stages = plan.pipeline_stages(params, REPO)
    assert [s for s in stages if s.startswith("corpus@")] == ["corpus@native", "corpus@terse"]
    assert "train@oracle_synth" not in stages and stages.index("train@terse") < stages.index("report")


def test_plan_and_preset_commands_on_the_study_preset(monkeypatch):
    from typer.testing import CliRunner

    from qup.cli import app

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    runner = CliRunner()
    planned = runner.invoke(app, ["plan", "--all", "--preset", "presets/study-gpt4o.yaml"])
    assert planned.exit_code == 0, planned.output
    synth = next(line for line in planned.output.splitlines() if line.startswith("corpus@oracle_synth"))
    assert "gpt-4o" in synth and "$0.00" not in synth  # a priced API Oracle costs money
    assert "800,000" in next(line for line in planned.output.splitlines() if line.startswith("native"))
    shown = runner.invoke(app, ["preset", "presets/study-gpt4o.yaml"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("dvc exp run -n study-gpt4o -S ")
    assert "costs.prices.gpt-4o.prompt=2.5" in shown.output and "problems.n_train=100000" in shown.output
    assert "'evaluate.benchmarks=[{name: gsm8k, preset: gsm8k}" in shown.output
    bad = runner.invoke(app, ["preset", "params.yaml", "--name", "x"])  # a whole params file is a valid overlay
    assert bad.exit_code == 0


def test_a_preset_with_an_unknown_key_fails_naming_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from qup.cli import app

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    overlay = tmp_path / "typo.yaml"
    overlay.write_text("native: {kk: 3}\n")
    result = CliRunner().invoke(app, ["preset", str(overlay)])
    assert result.exit_code == 2 and "native.kk" in result.output
