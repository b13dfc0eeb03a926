"""The study's models: train the toy ones, or resolve real ones (hub ids, local paths) to a manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from qup import paths
from qup.config import EngineParams, HFOptions, ModelRef, Params
from qup.engines import Engine, Sampling, make_engine
from qup.grading import is_correct
from qup.manifest import directory_digest, file_digest

TOY = "toy"
# the dtype a GGUF file is dequantised to; auto: float32, which holds the dequantised weights exactly
GGUF_DTYPES = {"auto": "float32", "float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


class ModelUnavailable(RuntimeError):
    """A model named in params cannot be found locally or on the hub."""


def param_name(role: str) -> str:
    """The params key that names the model of ``role``, for error messages."""
    return "scoring.reward_models[].name" if role == "reward" else f"models.{role}.name"


def resolve_model(role: str, ref: ModelRef, *, timeout: float = 15.0, cache_dir: Path = paths.cache("models")) -> dict:
    """A manifest entry (id, revision or content hash, path, dtype) for a hub id, a local directory or a GGUF file.

    Hub weights go to the Hugging Face cache and GGUF conversions to ``cache_dir``, never into the DVC cache.
    """
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
                                 allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        raise ModelUnavailable(
            f"{param_name(role)}: cannot resolve '{ref.name}' on the Hugging Face hub ({type(err).__name__}: "
            f"{err}). Point {param_name(role)} at a local directory holding the saved model (or a GGUF file) "
            "instead, or set HF_HUB_OFFLINE=1 to use what is already in the local hub cache."
        ) from err
    return {"role": role, "id": ref.name, "revision": Path(path).name, "path": path, "dtype": ref.dtype,
            "source": "hub"}


def resolve_gguf(role: str, file: Path, dtype: str, cache_dir: Path) -> dict:
    """A GGUF file's entry: pinned by the file's SHA-256, loaded from its safetensors conversion in ``cache_dir``.

    The conversion is made once per (file content, dtype) and reused while the file's hash matches.
    """
    if file.suffix.lower() != ".gguf":
        raise ModelUnavailable(f"{param_name(role)}: {file} is a file but not a .gguf one; name a GGUF file or a "
                               "directory holding a saved model")
    if role == "reward":
        raise ModelUnavailable(f"{param_name(role)}: {file} is a GGUF file, which transformers loads as a causal LM "
                               "only: a reward model needs its classification head, saved in a model directory")
    digest = file_digest(file)
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
    """``entry`` with its GGUF conversion rebuilt where the cache lost it (a fresh clone, a cleared
    ``.qup-cache``); the GGUF file must still hash to the pinned revision."""
    if entry.get("source") != "gguf" or Path(entry["path"]).is_dir():
        return entry
    again = resolve_model(entry["role"], ModelRef(name=entry["id"], dtype=entry["dtype"]),
                          cache_dir=Path(entry["path"]).parent.parent)
    if again["revision"] != entry["revision"]:
        raise ModelUnavailable(f"{entry['id']}: its SHA-256 is {again['revision']}, but the manifest pinned "
                               f"{entry['revision']}; rerun the models stage (dvc repro models)")
    return again


REMOTE_ENGINES = ("symbolic", "openai")  # engines that serve a model by name, with nothing to load here


def resolve_oracle(ref: ModelRef, engine: str) -> dict:
    """The Oracle's manifest entry: by name for the symbolic and API engines, else resolved like the SLM."""
    if engine in REMOTE_ENGINES:
        return {"role": "oracle", "id": ref.name, "revision": ref.revision, "path": None, "dtype": ref.dtype,
                "source": engine}
    return resolve_model("oracle", ref)


def evaluate_toy_slm(params: Params, entry: dict, questions: list[str], golds: list[str]) -> dict:
    """The freshly trained toy SLM's own figures on the test split, decoded in process."""
    evaluation = params.models.eval
    engine_params = EngineParams(engine="hf", hf=HFOptions(batch_size=evaluation.batch_size))
    with make_engine(engine_params, entry, progress=True) as engine:
        return evaluate_solver(engine, questions, golds, k=evaluation.k, temperature=evaluation.temperature,
                               max_new_tokens=evaluation.max_new_tokens, seed=params.seed)


def evaluate_solver(engine: Engine, questions: list[str], golds: list[str], *, k: int, temperature: float,
                    max_new_tokens: int, seed: int) -> dict:
    """Greedy accuracy and pass@k (k samples at ``temperature``) of a model that reads bare questions."""
    conversations = [[{"role": "user", "content": q}] for q in questions]
    greedy = engine.generate(conversations, 1, Sampling(temperature=0.0, max_new_tokens=max_new_tokens, seed=seed))
    sampled = engine.generate(conversations, k, Sampling(temperature=temperature, max_new_tokens=max_new_tokens,
                                                         seed=seed))
    greedy_right = [is_correct(c[0].text, g) for c, g in zip(greedy, golds)]
    sample_right = [[is_correct(s.text, g) for s in samples] for samples, g in zip(sampled, golds)]
    n = len(questions)
    return {
        "slm_greedy_accuracy": sum(greedy_right) / n,
        "slm_pass_at_k": sum(any(r) for r in sample_right) / n,
        "slm_mean_accuracy_at_k": sum(sum(r) / k for r in sample_right) / n,
        "k": k,
        "temperature": temperature,
        "n_test": n,
    }


def train_toy_models(params: Params, train_questions: list[str], test_questions: list[str], out_dir: Path,
                     cache_dir: Path, progress: bool = True) -> tuple[dict, dict]:
    """Train the toy tokenizer and SLM; save them to ``out_dir/slm`` with ``save_pretrained``.

    Questions of both splits are kept out of the SLM's training stream. Training checkpoints
    under ``cache_dir`` (keyed by everything that shapes the run) let a crashed run resume.
    """
    from qup.toy.tokenizer import build_char_tokenizer
    from qup.toy.train_slm import train_slm

    key = hashlib.sha256(json.dumps([params.seed, params.toy.model_dump(), params.models.toy_slm.model_dump(),
                                     sorted(train_questions), sorted(test_questions)]).encode()).hexdigest()[:16]
    tokenizer = build_char_tokenizer()
    model, summary = train_slm(tokenizer, params.models.toy_slm, params.toy, seed=params.seed,
                               exclude=set(train_questions) | set(test_questions),
                               checkpoint_dir=cache_dir / f"slm-{key}", progress=progress)
    final = out_dir / "slm"
    staging = out_dir / ".slm.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    entry = {"role": "slm", "id": TOY, "revision": directory_digest(final), "path": str(final),
             "dtype": "float32", "source": "toy"}
    return entry, summary
