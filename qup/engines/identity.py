"""A checkpoint is evaluated as itself or not at all: what a running server serves, checked before any
request, and LoRA adapters loaded on it under names of their own.

A server qup did not start may serve anything. Before the first request qup asks it (SGLang's
``GET /get_model_info``, the OpenAI API's ``GET /models``) and refuses, naming both, when it serves
another model than the manifest entry's; an adapter is loaded under a unique name (SGLang
``POST /load_lora_adapter``, vLLM ``POST /v1/load_lora_adapter``), named in each request, and unloaded
when the engine closes.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path


class WrongModel(RuntimeError):
    """A running server serves another model than the one qup was asked to use."""


def served_names(model: dict) -> set[str]:
    """The names a server may know a manifest entry by: its id, its directory, that directory resolved."""
    names = {model["id"]}
    if model.get("path"):
        names |= {model["path"], str(Path(model["path"]).resolve())}
    return {str(n).rstrip("/") for n in names}


def wrong_model(url: str, served: list[str], model: dict) -> WrongModel:
    """The error that names what the server at ``url`` serves and what qup wanted."""
    return WrongModel(f"the server at {url} serves {', '.join(map(str, served)) or 'no model'}, not "
                      f"{model['id']} ({model.get('path')}); start it with that model (or its directory), "
                      "or point qup at a server that has it")


def check_served(url: str, served: list[str], model: dict) -> None:
    """Raise ``WrongModel`` unless one of the ``served`` names is one of ``model``'s."""
    if not {str(s).rstrip("/") for s in served} & served_names(model):
        raise wrong_model(url, served, model)


def adapter_name(adapter: str) -> str:
    """A name for ``adapter`` that no other engine on a shared server uses."""
    return f"qup-{Path(adapter).name}-{uuid.uuid4().hex[:12]}"


def check_loaded(reply: object, what: str) -> None:
    """Raise when a server's reply to loading or unloading an adapter says it failed (SGLang answers
    ``{"success": false, ...}`` with status 200)."""
    if isinstance(reply, dict) and reply.get("success") is False:
        raise RuntimeError(f"{what} failed: {reply.get('error_message') or reply}")


def lora_shape(adapters: list[str]) -> tuple[int, list[str]]:
    """The largest rank and every target module of the PEFT ``adapters``: what a server must be started with to
    load any of them by name later."""
    configs = [json.loads((Path(a) / "adapter_config.json").read_text()) for a in adapters]
    modules = sorted({m for c in configs for m in ([c["target_modules"]] if isinstance(c["target_modules"], str)
                                                   else c["target_modules"])})
    return max(int(c["r"]) for c in configs), modules
