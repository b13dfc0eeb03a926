"""Content hashes that pin a model: of a saved model directory, or of one file (a GGUF model)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def _update(digest, file: Path) -> None:
    with file.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


def directory_digest(path: Path) -> str:
    """A content hash of the weight and config files of a saved model directory."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        _update(digest, file)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 of one file (a GGUF model), as ``sha256sum`` prints it."""
    digest = hashlib.sha256()
    _update(digest, path)
    return digest.hexdigest()
