import pytest

from qup.config import Params, ParamsError, load_params


def test_the_repos_params_load():
    params = load_params("params.yaml")
    assert params.engines.slm.engine == "hf" and params.native.k == 8


def test_swapping_the_engine_keeps_each_engines_options():
    params = load_params("params.yaml", sets=["engines.slm.engine=sglang", "engines.slm.sglang.dp_size=4"])
    assert params.engines.slm.chosen().dp_size == 4 and params.engines.slm.chosen().router is True
    assert params.engines.slm.hf.batch_size == 128  # as dvc exp run -S does: the other engines keep their options


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
