"""Every hub model and dataset is read at one pinned commit, recorded, and loaded at it afterwards (fake hub)."""

import json
import shutil
from types import SimpleNamespace

import pytest

from qup.config import ModelRef, Params
from qup.models import ModelUnavailable, loadable, resolve_model
from qup.problems.hub import HubSource, pin

MAIN, OLD = "a" * 40, "b" * 40  # the commits the fake hub's main points at, now and before


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """``snapshot_download`` resolving main to ``hub.main``; each call recorded as (repo, revision, patterns)."""
    hub = SimpleNamespace(main=MAIN, calls=[])

    def snapshot_download(repo_id, revision=None, allow_patterns=None):
        commit = revision if revision and len(revision) == 40 else hub.main
        hub.calls.append((repo_id, revision, allow_patterns))
        path = tmp_path / "hub" / repo_id.replace("/", "--") / "snapshots" / commit
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text("{}")
        return str(path)

    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot_download)
    return hub


def test_a_hub_model_is_pinned_at_the_commit_main_resolves_to_and_code_comes_only_with_remote_code(fake_hub):
    entry = resolve_model("slm", ModelRef(name="Qwen/Qwen2.5-Math-1.5B"))
    assert entry["revision"] == MAIN and entry["path"].endswith(MAIN) and entry["source"] == "hub"
    resolve_model("reward", ModelRef(name="Qwen/Qwen2.5-Math-PRM-7B"), remote_code=True)
    (_, _, plain), (_, _, with_code) = fake_hub.calls
    assert "*.py" not in plain and "*.safetensors" in plain and set(with_code) == {*plain, "*.py"}


def test_a_pinned_hub_model_is_loaded_at_its_commit_after_main_moved_and_its_snapshot_was_lost(fake_hub):
    entry = resolve_model("slm", ModelRef(name="Qwen/Qwen2.5-Math-1.5B"))
    assert loadable(entry) == entry  # its snapshot is there: nothing fetched
    fake_hub.main = OLD  # the hub's main moves on
    shutil.rmtree(entry["path"])  # another machine, a cleared hub cache
    again = loadable(entry)
    assert again == entry and fake_hub.calls[-1][:2] == ("Qwen/Qwen2.5-Math-1.5B", MAIN)


def test_a_local_model_that_changed_since_it_was_pinned_is_refused(tmp_path, tiny_model_dir):
    local = tmp_path / "model"
    shutil.copytree(tiny_model_dir, local)
    entry = resolve_model("slm", ModelRef(name=str(local)))
    assert loadable(entry) == entry
    (local / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailable, match="content changed since it was pinned"):
        loadable(entry)


@pytest.fixture
def fake_datasets(monkeypatch):
    """The hub's ``dataset_info`` (main at ``MAIN``) and ``load_dataset`` (sums; each call's revision recorded)."""
    seen = SimpleNamespace(info=[], loads=[])

    def dataset_info(self, repo_id, revision=None, timeout=None):
        seen.info.append(revision)
        return SimpleNamespace(sha=revision if revision and len(revision) == 40 else MAIN)

    def load_dataset(name, config=None, split=None, revision=None):
        seen.loads.append((split, revision))
        return [{"question": f"In {split}, what is {i} + 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"}
                for i in range(12)]

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.HfApi.dataset_info", dataset_info)
    monkeypatch.setattr("datasets.load_dataset", load_dataset)
    return seen


def test_a_hub_dataset_is_pinned_online_and_offline_only_a_named_commit_is_known(fake_datasets, monkeypatch):
    source = HubSource("org/sums", None, "gsm8k", {}, "v1")
    assert pin(source).revision == MAIN and fake_datasets.info == ["v1"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert pin(source).revision is None and pin(HubSource("org/sums", None, "gsm8k", {}, OLD)).revision == OLD
    assert fake_datasets.info == ["v1"]  # offline: the hub is never asked


def test_the_problems_stage_reads_every_split_at_one_commit_and_records_it(fake_datasets, tmp_path, monkeypatch):
    from stages import problems

    monkeypatch.chdir(tmp_path)
    problems.main(Params.model_validate({"problems": {"source": "hf", "hf": {
        "preset": None, "dataset": "org/sums", "shape": "gsm8k", "revision": "v1"}}}))
    assert fake_datasets.loads == [("train", MAIN), ("test", MAIN)]
    metrics = json.loads(open("metrics/problems.json").read())
    assert metrics["revision"] == MAIN and metrics["train"] == metrics["test"] == 12


def test_the_benchmarks_stage_records_a_hub_presets_commit_and_none_for_the_toy_set(fake_datasets, tmp_path,
                                                                                    monkeypatch):
    from stages import benchmarks

    monkeypatch.chdir(tmp_path)
    benchmarks.main(Params.model_validate({"evaluate": {"benchmarks": [
        {"name": "gsm8k", "preset": "gsm8k", "revision": "refs/convert/parquet"},
        {"name": "toy_ood", "preset": "toy_ood", "max_problems": 5}]}}))
    assert fake_datasets.loads == [("test", MAIN)]
    metrics = json.loads(open("metrics/benchmarks.json").read())
    assert metrics["gsm8k"]["revision"] == MAIN and metrics["gsm8k"]["problems"] == 12
    assert metrics["toy_ood"]["revision"] is None
