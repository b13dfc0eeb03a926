"""vLLM's offline ``LLM``, in this process: the chat template applied once, n samples per prompt, stopping on
every end-of-turn id (``qup.chat.end_of_turn_ids``); an aborted request keeps finish reason "abort"."""

from __future__ import annotations

from qup.chat import end_of_turn_ids, prompt_ids
from qup.engines.base import Completion, Conversation, EngineBase, Sampling, request_seed


class VLLMEngine(EngineBase):
    """Generation with ``vllm.LLM`` and one ``SamplingParams(n=..., seed=...)`` per prompt."""

    name = "vllm"

    def __init__(self, model: str, *, dtype: str = "auto", gpu_memory_utilization: float = 0.9,
                 tensor_parallel_size: int = 1, max_model_len: int | None = None, enable_lora: bool = False,
                 progress: bool = True, adapter: str | None = None, max_lora_rank: int = 64):
        from vllm import LLM
        from vllm.lora.request import LoRARequest

        self.model = model
        self.llm = LLM(model=model, dtype=dtype, gpu_memory_utilization=gpu_memory_utilization,
                       tensor_parallel_size=tensor_parallel_size, max_model_len=max_model_len,
                       enable_lora=enable_lora or adapter is not None, max_lora_rank=max_lora_rank)
        self.lora = LoRARequest("adapter", 1, adapter) if adapter is not None else None
        self.tokenizer = self.llm.get_tokenizer()
        self.stop_ids = end_of_turn_ids(self.tokenizer, model)
        self.progress = progress

    def encode(self, conversation: Conversation) -> list[int]:
        return prompt_ids(self.tokenizer, conversation)

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        seeds = list(range(len(conversations))) if seeds is None else seeds
        greedy = sampling.temperature == 0
        prompts, params = [], []
        for conversation, seed in zip(conversations, seeds):
            ids = self.encode(conversation)
            # vLLM rejects n > 1 with greedy decoding: ask for copies instead
            for j in range(n if greedy else 1):
                prompts.append(TokensPrompt(prompt_token_ids=ids))
                params.append(SamplingParams(n=1 if greedy else n, temperature=sampling.temperature,
                                             top_p=sampling.top_p, max_tokens=sampling.max_new_tokens,
                                             seed=request_seed(sampling.seed, seed, j),
                                             stop_token_ids=list(self.stop_ids)))
        outputs = self.llm.generate(prompts, params, use_tqdm=self.progress, lora_request=self.lora)
        flat = [completion(o, len(request.prompt_token_ids)) for request in outputs for o in request.outputs]
        return [flat[i * n:(i + 1) * n] for i in range(len(conversations))]


def completion(output, prompt_tokens: int) -> Completion:
    """One vLLM ``CompletionOutput`` with its true finish reason (an abort's text says so)."""
    if output.finish_reason == "abort":
        return Completion("aborted: vLLM dropped the request", len(output.token_ids), "abort",
                          prompt_tokens=prompt_tokens)
    return Completion(output.text, len(output.token_ids), "length" if output.finish_reason == "length" else "stop",
                      prompt_tokens=prompt_tokens)
