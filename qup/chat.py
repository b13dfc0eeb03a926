"""Chat-template encoding, padding and length-sorted batching: written once, used by every model call.

Every prompt, training example, scored trace and reward-model input goes through the model's own
chat template here, so generation, training and scoring see the same tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import torch

Message = dict[str, str]
Conversation = list[Message]
Side = Literal["left", "right"]


# Templates that can think (Qwen3) render in non-thinking mode: the empty <think></think> block goes into the
# generation prompt, so the model answers at once, and only its answer is generated, trained on and scored.
TEMPLATE_OPTIONS = {"enable_thinking": False}


class TemplateMismatch(ValueError):
    """The chat template renders the prompt differently once the response is appended."""


def prompt_ids(tokenizer, conversation: Conversation) -> list[int]:
    """A prompt's token ids: the chat template applied once, ready for the assistant's answer."""
    return tokenizer.apply_chat_template(conversation, tokenize=True, add_generation_prompt=True,
                                         return_dict=True, **TEMPLATE_OPTIONS)["input_ids"]


def conversation_ids(tokenizer, conversation: Conversation, response: str) -> list[int]:
    """The token ids of ``conversation`` followed by the assistant's ``response``."""
    return tokenizer.apply_chat_template(_with_response(conversation, response), tokenize=True,
                                         return_dict=True, **TEMPLATE_OPTIONS)["input_ids"]


def _with_response(conversation: Conversation, response: str) -> Conversation:
    return conversation + [{"role": "assistant", "content": response}]


def response_span(tokenizer, conversation: Conversation, response: str) -> tuple[list[int], int]:
    """The ids of prompt + response, and where the response starts: the tokens a model writes after the
    prompt, up to and including the end-of-turn (EOS) token it stops on.

    The prompt's ids are exactly those the engines generate from (``prompt_ids``); what the template
    renders after the prompt is tokenized on its own, as the model wrote it. Tokenizing the whole
    text at once would let the prompt's last token merge with the response's first: under ChatML,
    "assistant\\n" followed by a response that starts with "\\n\\n", "\\n " or two spaces. What a template
    renders after the EOS (ChatML's "\\n") is never generated, so it is left out. Raises
    ``TemplateMismatch`` when the template does not render the prompt as a prefix of prompt + response.
    """
    prompt_text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True,
                                                **TEMPLATE_OPTIONS)
    full_text = tokenizer.apply_chat_template(_with_response(conversation, response), tokenize=False,
                                              **TEMPLATE_OPTIONS)
    if not full_text.startswith(prompt_text) or len(full_text) == len(prompt_text):
        raise TemplateMismatch("the chat template does not render the prompt as a prefix of prompt + response; "
                               "the response's tokens cannot be told apart from the prompt's")
    prompt = prompt_ids(tokenizer, conversation)
    reply = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id in reply:
        reply = reply[:reply.index(tokenizer.eos_token_id) + 1]
    return prompt + reply, len(prompt)


def supervised_ids(tokenizer, conversation: Conversation, response: str, *,
                   loss_on_prompt: bool = False) -> tuple[list[int], list[int]]:
    """Token ids and labels for training: the response's tokens, as ``response_span`` finds them, are
    their own labels; the prompt's are -100 unless ``loss_on_prompt``."""
    ids, start = response_span(tokenizer, conversation, response)
    return ids, ids if loss_on_prompt else [-100] * start + ids[start:]


def pad(sequences: Sequence[Sequence[int]], value: int, side: Side = "right") -> torch.Tensor:
    """Sequences of unequal length as one [batch, longest] tensor, filled with ``value`` on ``side``."""
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', not {side!r}")
    width = max(len(s) for s in sequences)
    out = torch.full((len(sequences), width), value, dtype=torch.long)
    for row, seq in enumerate(sequences):
        if not len(seq):
            continue
        if side == "left":
            out[row, width - len(seq):] = torch.as_tensor(seq, dtype=torch.long)
        else:
            out[row, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int,
              side: Side = "right") -> tuple[torch.Tensor, torch.Tensor]:
    """Padded ids and their attention mask (1 on real tokens, 0 on padding)."""
    return pad(sequences, pad_id, side), pad([[1] * len(s) for s in sequences], 0, side)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count real tokens only, so left padding shifts nothing."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices in batches of ``batch_size``, longest first, so that each batch pads little."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    for begin in range(0, len(order), batch_size):
        yield order[begin:begin + batch_size]
