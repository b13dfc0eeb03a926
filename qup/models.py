"""The study's real models: hub ids, local directories and GGUF files, resolved to manifest entries."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from qup import paths
from qup.config import ModelRef
from qup.config.engines import REMOTE_ENGINES
from qup.digests import directory_digest, file_digest
from qup.packaged import PACKAGED, PackagedModel, cached_file, fetch_command, is_fetched

# the dtype a GGUF file is dequantised to; auto: float32, which holds the dequantised weights exactly
GGUF_DTYPES = {"auto": "float32", "float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


class ModelUnavailable(RuntimeError):
    """A model named in params cannot be found locally or on the hub."""


def param_name(role: str) -> str:
    """The params key that names the model of ``role``, for error messages."""
    return "scoring.reward_models[].name" if role == "reward" else f"models.{role}.name"


HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]  # weights, configs, tokenizers, templates
REMOTE_CODE_FILES = ["*.py"]  # the modeling code a trust_remote_code model loads (Qwen2.5-Math-PRM-7B's)


def resolve_model(role: str, ref: ModelRef, *, remote_code: bool = False, timeout: float = 15.0,
                  cache_dir: Path = paths.cache("models")) -> dict:
    """A manifest entry (id, revision or content hash, path, dtype) for a hub id, a local directory or a GGUF file.

    A hub id's revision is the commit the hub resolved ``ref.revision`` (None: main) to, and its path that commit's
    snapshot. Hub weights go to the Hugging Face cache and GGUF conversions to ``cache_dir``, never into the DVC
    cache. ``remote_code``: fetch the repository's Python files too, for a model loaded with trust_remote_code.
    """
    if ref.name in PACKAGED:
        return resolve_packaged(role, PACKAGED[ref.name], ref.dtype, cache_dir)
    local = Path(ref.name).expanduser()
    if local.is_file():
        return resolve_gguf(role, local, ref.dtype, cache_dir)
    if local.is_dir():
        if not (local / "config.json").exists():
            raise ModelUnavailable(f"{param_name(role)}: {local} has no config.json; is it a saved model?")
        return {"role": role, "id": ref.name, "revision": directory_digest(local), "path": str(local.resolve()),
                "dtype": ref.dtype, "source": "path"}
    if ref.name.startswith((".", "/", "~")) or ref.name.endswith(".gguf"):
        raise ModelUnavailable(f"{param_name(role)}: local path {ref.name} does not exist")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(timeout)))
    try:
        path = snapshot_download(ref.name, revision=ref.revision,
                                 allow_patterns=HUB_FILES + (REMOTE_CODE_FILES if remote_code else []))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        raise ModelUnavailable(
            f"{param_name(role)}: cannot resolve '{ref.name}' on the Hugging Face hub ({type(err).__name__}: "
            f"{err}). Point {param_name(role)} at a local directory holding the saved model (or a GGUF file) "
            "instead, or set HF_HUB_OFFLINE=1 to use what is already in the local hub cache."
        ) from err
    return {"role": role, "id": ref.name, "revision": Path(path).name, "path": path, "dtype": ref.dtype,
            "source": "hub"}


def resolve_packaged(role: str, model: PackagedModel, dtype: str, cache_dir: Path) -> dict:
    """A packaged model's entry: its fetched GGUF file, which must hash to the pinned SHA-256, resolved as a GGUF
    file under the model's id."""
    file = cached_file(model)
    if not is_fetched(model):
        raise ModelUnavailable(f"{param_name(role)}: {model.id} ({model.title}, {model.size / 1e9:.1f} GB) is not "
                               f"fetched: no {file}. Fetch it once with `{fetch_command(model.id)}`")
    digest = file_digest(file)
    if digest != model.sha256:
        raise ModelUnavailable(f"{param_name(role)}: {file} has SHA-256 {digest}, not the pinned {model.sha256} "
                               f"of {model.id}; delete it and run `{fetch_command(model.id)}`")
    return {**resolve_gguf(role, file, dtype, cache_dir, digest=digest), "id": model.id}


def resolve_gguf(role: str, file: Path, dtype: str, cache_dir: Path, digest: str | None = None) -> dict:
    """A GGUF file's entry: pinned by the file's SHA-256 (``digest``, when the caller has it), loaded from its
    safetensors conversion in ``cache_dir``.

    The conversion is made once per (file content, dtype) and reused while the file's hash matches.
    """
    if file.suffix.lower() != ".gguf":
        raise ModelUnavailable(f"{param_name(role)}: {file} is a file but not a .gguf one; name a GGUF file or a "
                               "directory holding a saved model")
    if role == "reward":
        raise ModelUnavailable(f"{param_name(role)}: {file} is a GGUF file, which transformers loads as a causal LM "
                               "only: a reward model needs its classification head, saved in a model directory")
    digest = digest or file_digest(file)
    target = cache_dir / "gguf" / f"{digest[:16]}-{GGUF_DTYPES[dtype]}"
    if not (target / "config.json").exists():
        convert_gguf(file, target, GGUF_DTYPES[dtype], role)
    return {"role": role, "id": str(file), "revision": digest, "path": str(target), "dtype": dtype, "source": "gguf"}


def convert_gguf(file: Path, target: Path, dtype: str, role: str) -> None:
    """Dequantise ``file`` into a safetensors model directory at ``target``: weights, config, tokenizer and
    chat template, all read from the GGUF file. Written to a staging folder, then renamed into place."""
    try:
        import gguf  # noqa: F401
    except ImportError as err:
        raise ModelUnavailable(f"{param_name(role)}: {file} is a GGUF file; reading it needs the gguf package "
                               "(pip install gguf)") from err
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        source = AutoModelForCausalLM.from_pretrained(file.parent, gguf_file=file.name, dtype=getattr(torch, dtype))
        tokenizer = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
    except (ValueError, KeyError, OSError, RuntimeError) as err:
        raise ModelUnavailable(f"{param_name(role)}: transformers cannot convert the GGUF file {file} "
                               f"({type(err).__name__}: {err})") from err
    config = source.config
    del config.quantization_config  # the weights are dequantised: the saved model is a plain one
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.load_state_dict(source.state_dict(), assign=True)
    model.tie_weights()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "gguf_source.json").write_text(json.dumps({"gguf": str(file.resolve()), "dtype": dtype}) + "\n")
    try:
        staging.rename(target)
    except OSError:  # another process converted it first
        shutil.rmtree(staging, ignore_errors=True)


def loadable(entry: dict) -> dict:
    """``entry``, checked to load what was pinned: a hub model's commit fetched again where its snapshot is gone
    (another machine, a cleared hub cache); a local directory that must still hash to its pinned revision; a GGUF
    conversion rebuilt where the cache lost it (a fresh clone, a cleared ``.qup-cache``), from a file that must
    still hash to the pinned revision."""
    source = entry.get("source")
    if source == "hub" and not Path(entry["path"]).is_dir():
        ref = ModelRef(name=entry["id"], revision=entry["revision"], dtype=entry["dtype"])
        return {**entry, "path": resolve_model(entry["role"], ref,
                                               remote_code=entry.get("trust_remote_code", False))["path"]}
    if source == "path" and directory_digest(Path(entry["path"])) != entry["revision"]:
        raise ModelUnavailable(f"{entry['id']}: its content changed since it was pinned ({entry['revision'][:12]}); "
                               "rerun the stage that pinned it")
    if source != "gguf" or Path(entry["path"]).is_dir():
        return entry
    again = resolve_model(entry["role"], ModelRef(name=entry["id"], dtype=entry["dtype"]),
                          cache_dir=Path(entry["path"]).parent.parent)
    if again["revision"] != entry["revision"]:
        raise ModelUnavailable(f"{entry['id']}: its SHA-256 is {again['revision']}, but the manifest pinned "
                               f"{entry['revision']}; rerun the models stage (dvc repro models)")
    return again


def resolve_oracle(ref: ModelRef, engine: str) -> dict:
    """The Oracle's manifest entry: by name for the symbolic and API engines, else resolved like the SLM."""
    if engine in REMOTE_ENGINES:
        return {"role": "oracle", "id": ref.name, "revision": ref.revision, "path": None, "dtype": ref.dtype,
                "source": engine}
    return resolve_model("oracle", ref)
