import pytest

from qup.config import Params, ParamsError, load_params


def test_the_repos_params_load():
    params = load_params("params.yaml")
    assert params.engines.slm.engine == "hf" and params.native.k == 8


def test_swapping_the_engine_keeps_each_engines_options():
    params = load_params("params.yaml", sets=["engines.slm.engine=sglang", "engines.slm.sglang.dp_size=4"])
    assert params.engines.slm.chosen().dp_size == 4 and params.engines.slm.chosen().router is True
    # as dvc exp run -S does: the other engines keep their options
    assert params.engines.slm.hf.batch_size == 64 and params.engines.slm.hf.workers == 2


def test_openai_engine_needs_a_url(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("engines:\n  slm:\n    engine: openai\n")
    with pytest.raises(ParamsError, match="engines.slm.*openai.base_url"):
        load_params(path)


def test_unknown_engine_is_named_with_the_known_ones(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("engines:\n  slm:\n    engine: tgi\n")
    with pytest.raises(ParamsError, match="engines.slm.engine: .*'hf', 'sglang', 'vllm', 'openai' or 'symbolic'"):
        load_params(path)


def test_unknown_engine_options_are_refused():
    with pytest.raises(ParamsError, match=r"engines\.slm\.tgi: Extra inputs"):
        load_params("params.yaml", sets=["engines.slm.tgi.port=1"])
    with pytest.raises(ParamsError, match=r"engines\.slm\.sglang\.ports: Extra inputs"):
        load_params("params.yaml", sets=["engines.slm.sglang.ports=1"])


def test_the_defaults_are_params_yaml():
    # one source of defaults: a stage called with Params() runs the embedded study params.yaml describes
    assert Params() == load_params("params.yaml")


def test_training_seeds_must_differ(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  seeds: [0, 0]\n")
    with pytest.raises(ParamsError, match="train.*repeats a seed"):
        load_params(path)


REAL_SLM = {"models": {"slm": {"name": "Qwen/Qwen2.5-Math-1.5B"}}}
REAL_PARTS = {"scoring": {"reward_models": [{"name": "Qwen/Qwen2.5-Math-RM-72B"}]}, "native": {"prompt": "solve"},
              "models": {"slm": {"name": "Qwen/Qwen2.5-Math-1.5B"}, "oracle": {"name": "gpt-4o"}},
              "engines": {"oracle": {"engine": "openai", "openai": {"base_url": "http://localhost:1/v1"}}}}


def test_the_toy_parts_beside_a_real_slm_are_refused_each_named():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        Params.model_validate(REAL_SLM)
    for key in ("scoring.reward_models[0].name: toy", "native.prompt: toy_solve", "models.oracle.name: symbolic",
                "engines.oracle.engine: symbolic"):
        assert key in str(err.value)
    Params.model_validate(REAL_PARTS)
    Params()  # the toy world keeps its own parts


@pytest.mark.parametrize("toy, key", [
    ({"scoring": {"reward_models": [{"name": "Qwen/Qwen2.5-Math-RM-72B"}, {"name": "toy", "label": "t"}]}},
     "scoring.reward_models[1].name: toy"),
    ({"native": {"prompt": "toy_solve"}}, "native.prompt: toy_solve"),
    ({"models": {"oracle": {"name": "symbolic"}}}, "models.oracle.name: symbolic"),
    ({"engines": {"oracle": {"engine": "symbolic"}}}, "engines.oracle.engine: symbolic"),
])
def test_one_toy_part_beside_a_real_slm_is_refused(toy, key):
    import re

    from qup.config import merged

    with pytest.raises(ValueError, match=rf"Qwen2\.5-Math-1\.5B', a real model, but {re.escape(key)} belong"):
        Params.model_validate(merged(REAL_PARTS, toy))


def test_the_presets_validate_and_the_study_scores_with_real_reward_models():
    study = load_params("params.yaml", ["presets/study-gpt4o.yaml"])
    primary, prm = study.scoring.reward_models
    assert primary.name == "Qwen/Qwen2.5-Math-RM-72B" and primary.engine == "sglang"
    assert (prm.name, prm.kind, prm.trust_remote_code, prm.step_separator) == (
        "Qwen/Qwen2.5-Math-PRM-7B", "prm", True, "<extra_0>")
    real_cpu = load_params("params.yaml", ["presets/real-cpu.yaml"])
    assert [r.name for r in real_cpu.scoring.reward_models] == ["slm_head"] and real_cpu.native.prompt == "solve"


def test_a_revision_is_for_a_hub_benchmark_only():
    from qup.config import BenchmarkRef

    assert BenchmarkRef(name="g", preset="gsm8k", revision="main").revision == "main"
    with pytest.raises(ValueError, match="revision is for a hub preset"):
        BenchmarkRef(name="t", preset="toy_ood", revision="main")


def test_several_training_objectives_are_listed_once_the_primary_first(tmp_path):
    from qup.config import TrainParams

    assert TrainParams().run_objectives == ["sft"] and TrainParams(objective="dft").run_objectives == ["dft"]
    params = load_params("params.yaml", sets=["train.objectives=[dft,sft]", "train.objective=dft"])
    assert params.train.run_objectives == ["dft", "sft"]  # the primary first
    # params.yaml names train.objective: sft; a list that starts with it needs no other change
    assert load_params("params.yaml", sets=["train.objectives=[sft,cadft]"]).train.run_objectives == ["sft", "cadft"]
    only = params.train.for_objective("sft")
    assert only.run_objectives == ["sft"] and only.objectives is None and only.seeds == params.train.seeds
    with pytest.raises(ParamsError, match=r"train.objective sft and train.objectives \['dft', 'sft'\] are both set: "
                                          r"use one"):
        load_params("params.yaml", sets=["train.objectives=[dft,sft]"])
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  objectives: [sft, dft, sft]\n")
    with pytest.raises(ParamsError, match=r"train.objectives repeats an objective: \['sft', 'dft', 'sft'\]"):
        load_params(path)
    path.write_text("train:\n  objectives: []\n")
    with pytest.raises(ParamsError, match="train.objectives"):
        load_params(path)
    path.write_text("train:\n  objectives: [sft, ppo]\n")
    with pytest.raises(ParamsError, match="train.objectives.1"):
        load_params(path)
