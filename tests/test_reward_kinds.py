"""Reward-model kinds are a registry: what the reward_model stage trains and where the score stage finds it."""

import json
import shutil

import pytest

from qup import paths
from qup.config import Params, RewardModelRef
from qup.digests import directory_digest
from qup.manifest import REWARD_MANIFEST
from qup.models import ModelUnavailable
from qup.scoring.corpus import reward_models
from qup.scoring.kinds import HUB, KINDS, RewardModelKind, kind_of, pins, to_train, trained_in
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
        pins([RewardModelRef(name="./no_such_rm")])


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


def test_with_nothing_to_train_or_pin_the_stage_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(KINDS, "none", RewardModelKind(trained_in(paths.REWARD_MODEL)))
    reward_model.main(rm_params("none"))
    assert (paths.REWARD_MODEL / "README.md").read_text() == (
        "No reward model named `toy`, `slm_head` or `oracle_head` in params scoring.reward_models.\n")
    assert json.loads(paths.REWARD_MODEL_METRICS.read_text()) == {"trained": False}
    assert not REWARD_MANIFEST.exists()


def test_hub_and_local_reward_models_are_pinned_once_and_every_score_stage_loads_that_pin(
        tmp_path, monkeypatch, tiny_model_dir):
    commits = iter(["a" * 40, "b" * 40])  # the hub's main moves on after the reward_model stage

    def snapshot_download(repo_id, revision=None, allow_patterns=None):
        calls.append((revision, allow_patterns))
        path = tmp_path / "hub" / (revision if revision and len(revision) == 40 else next(commits))
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text("{}")
        return str(path)

    calls: list = []
    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot_download)
    monkeypatch.chdir(tmp_path)
    params = Params.model_validate({"scoring": {"reward_models": [
        {"name": "Qwen/Qwen2.5-Math-PRM-7B", "label": "prm", "kind": "prm", "trust_remote_code": True},
        {"name": str(tiny_model_dir), "label": "local"}]}})
    refs = params.scoring.reward_models
    with pytest.raises(FileNotFoundError, match=r"not pinned .*dvc repro reward_model"):
        reward_models(refs)
    reward_model.main(params)
    pinned = json.loads(paths.REWARD_MODEL_METRICS.read_text())["pinned"]
    assert pinned == {"prm": {"id": "Qwen/Qwen2.5-Math-PRM-7B", "revision": "a" * 40},
                      "local": {"id": str(tiny_model_dir), "revision": directory_digest(tiny_model_dir)}}
    assert calls == [(None, calls[0][1])] and "*.py" in calls[0][1]  # its modeling code comes with it
    (prm, _, prm_revision), (local, _, local_revision) = reward_models(refs)
    assert (prm, prm_revision, local, local_revision) == ("reward_prm", "a" * 40, "reward_local",
                                                          directory_digest(tiny_model_dir))
    shutil.rmtree(tmp_path / "hub")  # a score stage on another machine fetches the pinned commit, not main
    reward_models(refs)
    assert calls[-1][0] == "a" * 40 and "*.py" in calls[-1][1]


def test_oracle_head_fits_the_head_on_the_oracles_body(tiny_model_dir, tmp_path, monkeypatch):
    import polars as pl

    from qup.config import HeadRMParams

    monkeypatch.chdir(tmp_path)
    paths.NATIVE_SAMPLES.parent.mkdir(parents=True)
    paths.TRAIN_PROBLEMS.parent.mkdir(parents=True, exist_ok=True)
    problems = pl.DataFrame({"id": [f"p{i}" for i in range(8)], "question": [f"What is {i} + 1?" for i in range(8)]})
    problems.write_parquet(paths.TRAIN_PROBLEMS)
    pl.DataFrame([{"problem_id": f"p{i}", "response": f"Answer: {i + 1}" if i % 2 else "Answer: zzz",
                   "correct": bool(i % 2)} for i in range(8)]).write_parquet(paths.NATIVE_SAMPLES)
    params = Params.model_validate({
        "models": {"slm": {"name": str(tiny_model_dir)}, "oracle": {"name": str(tiny_model_dir)}},
        "engines": {"oracle": {"engine": "hf"}}, "native": {"prompt": "solve"},
        "scoring": {"reward_models": [{"name": "oracle_head", "label": "big_head"}]}})
    params = params.model_copy(update={"models": params.models.model_copy(update={"head_rm": HeadRMParams(threads=1)})})
    reward_model.main(params)
    metrics = json.loads(paths.REWARD_MODEL_METRICS.read_text())
    assert metrics["trained"] and metrics["oracle_head_rm_samples"] == 8
    assert (paths.ORACLE_HEAD_RM / "config.json").exists()
    ((column, _, revision),) = reward_models(params.scoring.reward_models)
    assert column == "reward_big_head" and revision == directory_digest(paths.ORACLE_HEAD_RM)


def test_oracle_head_is_refused_where_the_oracle_has_no_weights_here():
    with pytest.raises(ValueError, match="oracle_head fits a head on the Oracle's weights, but engines.oracle.engine "
                                         "symbolic"):
        rm_params("oracle_head")
