import hashlib
import importlib.util
import shutil
import sys

import pytest

from qup.config import ModelRef
from qup.manifest import slm_entry, write_manifest
from qup.models import ModelUnavailable, resolve_model
from qup.problems.hub import HubUnreachable, pin, resolve


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
        pin(source, timeout=5)


def fake_conversions(monkeypatch) -> list:
    """Stand in for the GGUF conversion (the real one is tested on SmolLM2 in test_real_models.py)."""
    made = []

    def convert(file, target, dtype, role):
        made.append((target.name, dtype))
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")

    monkeypatch.setattr("qup.models.convert_gguf", convert)
    return made


def test_a_gguf_file_is_pinned_by_its_hash_and_converted_once_per_content_and_dtype(tmp_path, monkeypatch):
    made = fake_conversions(monkeypatch)
    gguf, cache = tmp_path / "slm.gguf", tmp_path / "cache"
    gguf.write_bytes(b"GGUF weights")
    entry = resolve_model("slm", ModelRef(name=str(gguf)), cache_dir=cache)
    digest = hashlib.sha256(b"GGUF weights").hexdigest()
    assert entry == {"role": "slm", "id": str(gguf), "revision": digest, "dtype": "auto", "source": "gguf",
                     "path": str(cache / "gguf" / f"{digest[:16]}-float32")}
    assert resolve_model("oracle", ModelRef(name=str(gguf)), cache_dir=cache)["path"] == entry["path"]
    assert made == [(f"{digest[:16]}-float32", "float32")]  # the same content: converted once
    resolve_model("slm", ModelRef(name=str(gguf), dtype="bfloat16"), cache_dir=cache)
    gguf.write_bytes(b"other weights")
    assert resolve_model("slm", ModelRef(name=str(gguf)), cache_dir=cache)["revision"] != digest
    assert len(made) == 3


def test_a_lost_conversion_is_rebuilt_for_the_pinned_file_and_a_changed_file_is_refused(tmp_path, monkeypatch):
    made = fake_conversions(monkeypatch)
    gguf, manifest = tmp_path / "slm.gguf", tmp_path / "manifest.json"
    gguf.write_bytes(b"GGUF weights")
    entry = resolve_model("slm", ModelRef(name=str(gguf)), cache_dir=tmp_path / "cache")
    write_manifest([entry], manifest)
    assert slm_entry(manifest) == entry and len(made) == 1
    shutil.rmtree(entry["path"])  # a fresh clone, or a cleared .qup-cache
    assert slm_entry(manifest) == entry and len(made) == 2
    shutil.rmtree(entry["path"])
    gguf.write_bytes(b"other weights")
    with pytest.raises(ModelUnavailable, match="but the manifest pinned"):
        slm_entry(manifest)


def test_gguf_errors_name_the_file_and_what_is_missing(tmp_path, monkeypatch):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a GGUF file")
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "gguf", None)  # as if it were not installed
        with pytest.raises(ModelUnavailable, match=r"models.slm.name: .*broken.gguf is a GGUF file; .*gguf package"):
            resolve_model("slm", ModelRef(name=str(broken)), cache_dir=tmp_path)
    if importlib.util.find_spec("gguf") is not None:
        with pytest.raises(ModelUnavailable, match=r"cannot convert the GGUF file .*broken.gguf .*magic"):
            resolve_model("oracle", ModelRef(name=str(broken)), cache_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match="classification head"):
        resolve_model("reward", ModelRef(name=str(broken)), cache_dir=tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelUnavailable, match="weights.bin is a file but not a .gguf one"):
        resolve_model("slm", ModelRef(name=str(tmp_path / "weights.bin")))
    with pytest.raises(ModelUnavailable, match="models/none.gguf does not exist"):
        resolve_model("slm", ModelRef(name="models/none.gguf"))
