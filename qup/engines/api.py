"""Any OpenAI-compatible endpoint: API Oracles, or a vLLM or SGLang server somewhere else.

Requests go out concurrently (at most ``concurrency`` at once) through the official client,
which retries 429s, 5xx and timeouts with exponential backoff and jitter; each completion carries
its request's retries (the raw response's ``retries_taken``) and the server's token ``usage``.
The API key is read from the environment variable named in params; it is never logged, stored or
written.
"""

from __future__ import annotations

import asyncio
import os

from qup.engines.base import Completion, Conversation, EngineBase, Sampling, count_tokens, request_seed
from qup.progress import progress


class MissingAPIKey(RuntimeError):
    """The environment variable that should hold the API key is unset."""


class OpenAIEngine(EngineBase):
    """Chat completions from an OpenAI-compatible server; the server applies the chat template."""

    name = "openai"

    def __init__(self, model: str, *, base_url: str | None, api_key_env: str | None = "OPENAI_API_KEY",
                 concurrency: int = 16, max_retries: int = 6, timeout: float = 120.0, seeded: bool = True,
                 progress: bool = True):
        from openai import AsyncOpenAI

        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise MissingAPIKey(f"set the environment variable {api_key_env} "
                                    f"to the API key for {base_url or 'the API'}")
        else:
            key = "EMPTY"  # local servers need none
        self.model = model
        self._client_args = {"api_key": key, "base_url": base_url, "max_retries": max_retries, "timeout": timeout}
        self._make_client = AsyncOpenAI
        self.concurrency = concurrency
        self.seeded = seeded  # vLLM 0.32's CPU build fails on seeded requests under load
        self.progress = progress

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIEngine(model={self.model!r}, base_url={self._client_args['base_url']!r})"

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        seeds = list(range(len(conversations))) if seeds is None else seeds
        return asyncio.run(self._generate_all(conversations, n, sampling, seeds))

    async def _generate_all(self, conversations, n, sampling, seeds) -> list[list[Completion]]:
        client = self._make_client(**self._client_args)
        limit = asyncio.Semaphore(self.concurrency)
        with progress(total=len(conversations) * n, desc=f"generate ({self.name})", unit="sample",
                  disable=not self.progress) as bar:

            async def one(conversation, seed):
                async with limit:
                    raw = await client.chat.completions.with_raw_response.create(
                        model=self.model, messages=conversation, n=n, temperature=sampling.temperature,
                        top_p=sampling.top_p, max_tokens=sampling.max_new_tokens,
                        seed=request_seed(sampling.seed, seed, 0) if self.seeded else None)
                bar.update(n)
                return completions(conversation, raw.parse(), raw.retries_taken)

            try:
                return list(await asyncio.gather(*(one(c, s) for c, s in zip(conversations, seeds))))
            finally:
                await client.close()


def completions(conversation: Conversation, response, retries: int) -> list[Completion]:
    """A chat completion's choices, with the token counts of the server's ``usage`` (the completion
    tokens split evenly over the choices), or counted locally where the server sends none."""
    choices = sorted(response.choices, key=lambda c: c.index)
    texts = [c.message.content or "" for c in choices]
    if response.usage is not None:
        prompt_tokens = response.usage.prompt_tokens
        share, extra = divmod(response.usage.completion_tokens, max(1, len(choices)))
        tokens = [share + (i < extra) for i in range(len(choices))]
    else:
        prompt_tokens = sum(count_tokens(m["content"]) for m in conversation)
        tokens = [count_tokens(t) for t in texts]
    return [Completion(text, n_tokens, "length" if c.finish_reason == "length" else "stop",
                       prompt_tokens=prompt_tokens, retries=retries)
            for c, text, n_tokens in zip(choices, texts, tokens)]
