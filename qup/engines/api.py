"""Any OpenAI-compatible endpoint: API Oracles, or a vLLM or SGLang server somewhere else.

Requests go out concurrently (at most ``concurrency`` at once) through the official client,
which retries 429s, 5xx and timeouts with exponential backoff and jitter; each completion carries
its request's retries (the raw response's ``retries_taken``) and the server's token ``usage``.
A request the server refuses for itself (HTTP 400, 413, 422: too long a prompt, a content filter)
is recorded as failed, its message as the text, and the others go on (NeMo-Skills' soft fail).
A model with local weights (``entry``) is checked against what the server serves (``GET /models``),
its end-of-turn tokens are sent as stops, and its LoRA adapter is loaded under a name of its own
(vLLM's ``POST /v1/load_lora_adapter``, with ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` on the server).
The API key is read from the environment variable named in params; it is never logged, stored or
written.
"""

from __future__ import annotations

import asyncio
import os

from qup.chat import Conversation
from qup.engines.base import (
    FAILED,
    SOFT_FAIL_STATUSES,
    Completion,
    EngineBase,
    Sampling,
    count_tokens,
    failed,
    request_seed,
)
from qup.engines.identity import adapter_name, check_loaded, served_names, wrong_model
from qup.engines.server import post_json
from qup.progress import advance, progress

# the server's finish_reason -> qup's (anything else, e.g. tool_calls, ended the turn)
FINISH = {"stop": "stop", "length": "length", "content_filter": "filtered", "abort": "abort"}


class MissingAPIKey(RuntimeError):
    """The environment variable that should hold the API key is unset."""


class OpenAIEngine(EngineBase):
    """Chat completions from an OpenAI-compatible server; the server applies the chat template."""

    name = "openai"

    def __init__(self, model: str | None, *, base_url: str | None, api_key_env: str | None = "OPENAI_API_KEY",
                 concurrency: int = 16, max_retries: int = 6, timeout: float = 120.0, seeded: bool = True,
                 progress: bool = True, entry: dict | None = None, adapter: str | None = None):
        """``model``: the name to request (None: the one the server serves ``entry`` under); ``entry``: the
        manifest entry of a model with local weights, checked against the server; ``adapter``: a LoRA
        directory to load on the server for this engine's requests."""
        from openai import AsyncOpenAI

        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise MissingAPIKey(f"set the environment variable {api_key_env} "
                                    f"to the API key for {base_url or 'the API'}")
        else:
            key = "EMPTY"  # local servers need none
        self._client_args = {"api_key": key, "base_url": base_url, "max_retries": max_retries, "timeout": timeout}
        self._make_client = AsyncOpenAI
        self.concurrency = concurrency
        self.seeded = seeded  # vLLM 0.32's CPU build fails on seeded requests under load
        self.progress = progress
        self.stop_ids: tuple[int, ...] = ()
        self._stops: dict = {}  # the request's stop arguments
        self._loaded: str | None = None  # the adapter name this engine loaded on the server
        self.model = model if entry is None else self._served_model(entry, model)
        if entry is not None:
            self._stop_on_end_of_turn(entry["path"])
        if adapter is not None:
            self._load(adapter)

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIEngine(model={self.model!r}, base_url={self._client_args['base_url']!r})"

    def _served_model(self, entry: dict, requested: str | None) -> str:
        """The server's name for ``entry`` (which must be ``requested`` when given); ``WrongModel`` when it
        serves no such model."""
        from openai import OpenAI

        with OpenAI(**self._client_args) as client:
            cards = [c for c in client.models.list().data if not getattr(c, "parent", None)]  # adapters have one
        names = served_names(entry)
        for card in cards:
            if requested in (None, card.id) and {card.id, getattr(card, "root", None) or card.id} & names:
                return card.id
        served = [c.id + (f" ({c.root})" if getattr(c, "root", None) not in (None, c.id) else "") for c in cards]
        raise wrong_model(self._client_args["base_url"], served, entry)

    def _stop_on_end_of_turn(self, path: str) -> None:
        """Stop on the model's end-of-turn tokens: as text, and as ids for the vLLM and SGLang servers."""
        from transformers import AutoTokenizer

        from qup.chat import end_of_turn_ids

        tokenizer = AutoTokenizer.from_pretrained(path)
        self.stop_ids = end_of_turn_ids(tokenizer)
        self._stops = {"stop": tokenizer.convert_ids_to_tokens(list(self.stop_ids)),
                       "extra_body": {"stop_token_ids": list(self.stop_ids)}}

    def _admin(self, route: str, payload: dict) -> object:
        key = self._client_args["api_key"]
        return post_json(f"{self._client_args['base_url'].rstrip('/')}/{route}", payload, self._client_args["timeout"],
                         headers={"Authorization": f"Bearer {key}"} if key != "EMPTY" else None)

    def _load(self, adapter: str) -> None:
        name = adapter_name(adapter)
        check_loaded(self._admin("load_lora_adapter", {"lora_name": name, "lora_path": adapter}),
                     f"loading the adapter {adapter}")
        self.model, self._loaded = name, name

    def close(self) -> None:
        if self._loaded is not None:
            name, self._loaded = self._loaded, None
            check_loaded(self._admin("unload_lora_adapter", {"lora_name": name}), f"unloading the adapter {name}")

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        seeds = list(range(len(conversations))) if seeds is None else seeds
        return asyncio.run(self._generate_all(conversations, n, sampling, seeds))

    async def _generate_all(self, conversations, n, sampling, seeds) -> list[list[Completion]]:
        from openai import APIStatusError

        client = self._make_client(**self._client_args)
        limit = asyncio.Semaphore(self.concurrency)
        with progress(total=len(conversations) * n, desc=f"generate ({self.name})", unit="sample",
                  disable=not self.progress) as bar:

            async def one(conversation, seed):
                async with limit:
                    try:
                        raw = await client.chat.completions.with_raw_response.create(
                            model=self.model, messages=conversation, n=n, temperature=sampling.temperature,
                            top_p=sampling.top_p, max_tokens=sampling.max_new_tokens,
                            seed=request_seed(sampling.seed, seed, 0) if self.seeded else None, **self._stops)
                    except APIStatusError as err:
                        if err.status_code not in SOFT_FAIL_STATUSES:
                            raise
                        bar.update(n)
                        advance(n)
                        return failed(err.message, "filtered" if err.code == "content_filter" else "error", n)
                bar.update(n)
                advance(n)
                return completions(conversation, raw.parse(), raw.retries_taken)

            try:
                return list(await asyncio.gather(*(one(c, s) for c, s in zip(conversations, seeds))))
            finally:
                await client.close()


def completions(conversation: Conversation, response, retries: int) -> list[Completion]:
    """A chat completion's choices, with the token counts of the server's ``usage`` (the completion
    tokens split evenly over the choices), or counted locally where the server sends none. A choice
    the server filtered or aborted keeps its finish reason, and says so as its text."""
    choices = sorted(response.choices, key=lambda c: c.index)
    finishes = [FINISH.get(c.finish_reason, "stop") for c in choices]
    texts = [f"{f}: the server ended this reply with finish_reason {c.finish_reason}" if f in FAILED
             else c.message.content or "" for c, f in zip(choices, finishes)]
    if response.usage is not None:
        prompt_tokens = response.usage.prompt_tokens
        share, extra = divmod(response.usage.completion_tokens, max(1, len(choices)))
        tokens = [share + (i < extra) for i in range(len(choices))]
    else:
        prompt_tokens = sum(count_tokens(m["content"]) for m in conversation)
        tokens = [count_tokens(t) for t in texts]
    return [Completion(text, n_tokens, finish, prompt_tokens=prompt_tokens, retries=retries)
            for finish, text, n_tokens in zip(finishes, texts, tokens)]
