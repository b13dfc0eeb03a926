"""Reward-model kinds are a registry: what the reward_model stage trains and where the score stage finds it."""

import json

import pytest

from qup import paths
from qup.config import Params, RewardModelRef
from qup.digests import directory_digest
from qup.models import ModelUnavailable
from qup.scoring.corpus import reward_models
from qup.scoring.kinds import HUB, KINDS, RewardModelKind, kind_of, to_train, trained_in
from stages import reward_model


def rm_params(*names: str) -> Params:
    return Params.model_validate({"scoring": {"reward_models": [{"name": n, "label": f"rm{i}"}
                                                                for i, n in enumerate(names)]}})


def test_a_name_picks_its_kind_and_anything_else_is_a_hub_or_local_model():
    assert kind_of(RewardModelRef(name="toy")) is KINDS["toy"] and kind_of(RewardModelRef(name="slm_head")) is (
        KINDS["slm_head"])
    assert kind_of(RewardModelRef(name="Skywork/Skywork-Reward-Llama-3.1-8B")) is HUB
    assert list(to_train(rm_params("Skywork/x", "slm_head", "toy").scoring.reward_models)) == ["toy", "slm_head"]


def test_a_model_that_is_no_kind_and_cannot_be_found_is_refused_naming_the_key_and_the_kinds():
    with pytest.raises(ModelUnavailable, match=r"scoring\.reward_models\[\]\.name: .*\./no_such_rm.*toy, slm_head"):
        reward_models([RewardModelRef(name="./no_such_rm")])


def test_a_new_kind_is_one_entry_trained_by_the_stage_and_found_by_the_score_stage(tmp_path, monkeypatch):
    def train(params: Params, out):
        (out / "constant").mkdir()
        (out / "constant/weights.txt").write_text(str(params.seed))
        return {"constant_value": 1.0}

    folder = paths.REWARD_MODEL / "constant"
    monkeypatch.setitem(KINDS, "constant", RewardModelKind(trained_in(folder), train, "constant_value"))
    monkeypatch.chdir(tmp_path)
    params = rm_params("constant")
    reward_model.main(params)
    assert (folder / "weights.txt").read_text() == "0" and not (paths.REWARD_MODEL / "README.md").exists()
    assert json.loads(paths.REWARD_MODEL_METRICS.read_text()) == {"constant_value": 1.0, "trained": True}
    ((column, _, revision),) = reward_models(params.scoring.reward_models)
    assert column == "reward_rm0" and revision == directory_digest(folder)


def test_with_nothing_to_train_the_stage_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reward_model.main(rm_params("Skywork/Skywork-Reward-Llama-3.1-8B"))
    assert (paths.REWARD_MODEL / "README.md").read_text() == (
        "No reward model named `toy` or `slm_head` in params scoring.reward_models.\n")
    assert json.loads(paths.REWARD_MODEL_METRICS.read_text()) == {"trained": False}
