"""The manifest of the study's models: what the ``models`` stage pinned, and how later stages load it."""

from __future__ import annotations

import json
from pathlib import Path

from qup import paths
from qup.digests import directory_digest
from qup.models import loadable
from qup.records import write_json

# the hub and local reward models the reward_model stage pinned, in its output (written only when there are some)
REWARD_MANIFEST = paths.REWARD_MODEL / "manifest.json"


def write_manifest(entries: list[dict], path: Path = paths.MANIFEST) -> None:
    """The manifest the later stages read: one entry (role, id, revision, path, dtype) per model."""
    write_json({"models": entries}, path)


def slm_entry(manifest: Path = paths.MANIFEST) -> dict:
    """The SLM's manifest entry, as the ``models`` stage pinned it."""
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest}: missing; run the models stage first (dvc repro models)")
    models = json.loads(manifest.read_text())["models"]
    entry = next((m for m in models if m["role"] == "slm"), None)
    if entry is None:
        raise ValueError(f"{manifest}: no model with role 'slm'")
    return loadable(entry)


def reward_entry(name: str, label: str, manifest: Path = REWARD_MANIFEST) -> dict:
    """The entry of reward model ``name`` (labelled ``label``) as the ``reward_model`` stage pinned it."""
    models = json.loads(manifest.read_text())["models"] if manifest.exists() else []
    entry = next((m for m in models if m["id"] == name and m["label"] == label), None)
    if entry is None:
        raise FileNotFoundError(f"reward model {name} ({label}) is not pinned in {manifest}; run the reward_model "
                                "stage first (dvc repro reward_model)")
    return loadable(entry)


def checkpoint_model(slm: dict, checkpoint: Path) -> tuple[dict, str | None, str]:
    """How to load a trained checkpoint: (the manifest entry to load, the LoRA adapter to apply or
    None for a fully fine-tuned model, the checkpoint's content hash)."""
    revision = directory_digest(checkpoint)
    if (checkpoint / "adapter_config.json").exists():
        return slm, str(checkpoint), revision
    return {**slm, "path": str(checkpoint), "revision": revision}, None, revision
