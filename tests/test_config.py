import pytest

from qup.config import Params, ParamsError, load_params


def test_the_repos_params_load():
    params = load_params("params.yaml")
    assert params.engines.slm.engine == "hf" and params.native.k == 8


def test_swapping_the_engine_keeps_each_engines_options():
    params = Params.model_validate({"engines": {"slm": {"engine": "sglang", "sglang": {"dp_size": 4}}}})
    assert params.engines.slm.options()["dp_size"] == 4 and params.engines.slm.options()["router"] is True


def test_openai_engine_needs_a_url(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("engines:\n  slm:\n    engine: openai\n")
    with pytest.raises(ParamsError, match="engines.slm.*openai.base_url"):
        load_params(path)


def test_unknown_engine_is_named(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("engines:\n  slm:\n    engine: tgi\n")
    with pytest.raises(ParamsError, match="engines.slm.engine"):
        load_params(path)


def test_the_defaults_are_params_yaml():
    # one source of defaults: a stage called with Params() runs the embedded study params.yaml describes
    assert Params() == load_params("params.yaml")


def test_training_seeds_must_differ(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  seeds: [0, 0]\n")
    with pytest.raises(ParamsError, match="train.*repeats a seed"):
        load_params(path)
