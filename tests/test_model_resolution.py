import pytest

from qup.config import ModelRef
from qup.models import ModelUnavailable, resolve_model
from qup.problems.hub import HubUnreachable, hub_rows, resolve


def test_local_directory_is_pinned_by_content(tiny_model_dir):
    entry = resolve_model("slm", ModelRef(name=str(tiny_model_dir), dtype="float32"))
    assert entry["source"] == "path" and entry["path"] == str(tiny_model_dir.resolve())
    assert len(entry["revision"]) == 64 and entry["dtype"] == "float32"
    assert resolve_model("slm", ModelRef(name=str(tiny_model_dir)))["revision"] == entry["revision"]


def test_missing_local_path_and_non_model_directory(tmp_path):
    with pytest.raises(ModelUnavailable, match="does not exist"):
        resolve_model("slm", ModelRef(name="./no/such/dir"))
    with pytest.raises(ModelUnavailable, match="no config.json"):
        resolve_model("slm", ModelRef(name=str(tmp_path)))


def test_unreachable_hub_model_gives_advice():
    with pytest.raises(ModelUnavailable, match="Point models.slm.name at a local directory"):
        resolve_model("slm", ModelRef(name="Qwen/Qwen2.5-Math-1.5B"))


def test_unreachable_hub_dataset_says_how_to_use_local_files(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    source = resolve("gsm8k", None, None, None, {})
    assert (source.dataset, source.shape) == ("openai/gsm8k", "gsm8k")
    with pytest.raises(HubUnreachable, match="problems.source=file and problems.file.path"):
        hub_rows(source, ["train"], timeout=5)
