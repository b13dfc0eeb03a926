"""Engines are a registry: a new one is an options class and a builder, chosen by params like the others."""

import pytest
from pydantic import Field, ValidationError

from qup.config import EngineParams, assignments
from qup.config.engines import ENGINE_OPTIONS, EngineOptions, engine_params_model
from qup.engines import Completion, EngineBase, make_engine
from qup.engines.registry import ENGINES


class EchoOptions(EngineOptions):
    """A test engine that repeats the last message."""

    times: int = Field(1, ge=1)
    suffix: str | None = None

    def check_chosen(self, engine: str) -> None:
        if self.suffix is None:
            raise ValueError(f"engine '{engine}' needs {engine}.suffix")


class EchoEngine(EngineBase):
    name = "echo"

    def __init__(self, model: str, *, times: int, suffix: str, adapter: str | None):
        self.model, self.times, self.suffix, self.adapter = model, times, suffix, adapter

    def generate(self, conversations, n, sampling, seeds=None):
        reply = lambda c: Completion(c[-1]["content"] * self.times + self.suffix, 1, "stop")  # noqa: E731
        return [[reply(c)] * n for c in conversations]


def build_echo(model: dict, options: EchoOptions, *, progress: bool, adapter: str | None):
    return EchoEngine(model["id"], times=options.times, suffix=options.suffix, adapter=adapter)


@pytest.fixture
def echo_params(monkeypatch):
    """An ``EngineParams`` class that knows the echo engine, whose builder is registered."""
    monkeypatch.setitem(ENGINES, "echo", build_echo)
    return engine_params_model({**ENGINE_OPTIONS, "echo": EchoOptions})


def test_a_registered_engine_is_chosen_by_params_with_its_own_options_and_built(echo_params):
    params = echo_params.model_validate(assignments(["engine=echo", "echo.times=2", "echo.suffix=end"]))
    assert params.chosen() == EchoOptions(times=2, suffix="end") and params.hf.batch_size == 64
    with make_engine(params, {"id": "echo-1", "path": None}, adapter="lora/a") as engine:
        assert isinstance(engine, EchoEngine) and engine.model == "echo-1" and engine.adapter == "lora/a"
        assert engine.generate([[{"role": "user", "content": "ab"}]], 2, None)[0][1].text == "ababend"


def test_a_registered_engine_checks_its_options_and_refuses_unknown_keys(echo_params):
    with pytest.raises(ValidationError, match="engine 'echo' needs echo.suffix"):
        echo_params.model_validate({"engine": "echo"})
    with pytest.raises(ValidationError, match=r"echo\.time\n.*Extra inputs"):
        echo_params.model_validate({"engine": "echo", "echo": {"suffix": "!", "time": 2}})
    echo_params.model_validate({"echo": {"times": 3}})  # an engine not chosen needs nothing
    with pytest.raises(ValidationError, match=r"engine\n.*'symbolic' or 'echo'"):
        echo_params.model_validate({"engine": "tgi"})


def test_every_engine_params_accept_has_a_builder():
    assert list(ENGINES) == list(ENGINE_OPTIONS)


def test_the_openai_builder_refuses_an_adapter():
    params = EngineParams.model_validate({"engine": "openai", "openai": {"base_url": "u"}})
    with pytest.raises(ValueError, match="cannot load the adapter lora/a"):
        make_engine(params, {"id": "m"}, adapter="lora/a")
