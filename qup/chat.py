"""Chat-template encoding, padding and length-sorted batching: written once, used by every model call.

Every prompt, training example, scored trace and reward-model input goes through the model's own
chat template here, so generation, training and scoring see the same tokens.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import jinja2
import torch

Message = dict[str, str]
Conversation = list[Message]
Side = Literal["left", "right"]


# Templates that can think (Qwen3) render in non-thinking mode: the empty <think></think> block goes into the
# generation prompt, so the model answers at once, and only its answer is generated, trained on and scored.
TEMPLATE_OPTIONS = {"enable_thinking": False}


class TemplateMismatch(ValueError):
    """The chat template renders the prompt differently once the response is appended."""


# Where a template cannot be rendered, the end-of-turn tokens of the common template families, when the vocabulary
# has them: ChatML, Llama 3, Gemma, Phi-3.
KNOWN_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")
_END_OF_TURN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tokenizer -> {model_dir: ids}


def end_of_turn_ids(tokenizer, model_dir: str | Path | None = None) -> tuple[int, ...]:
    """Every token id that ends the assistant's turn, sorted: the union of the model's
    ``generation_config.eos_token_id`` (read from ``model_dir``, default the tokenizer's own directory), the
    tokenizer's ``eos_token_id`` and the token the chat template closes an assistant turn with.

    Engines stop on all of them, and training and scoring cut a reply at the first, so no engine runs
    past an end of turn that another would stop on (Qwen's base models: eos ``<|endoftext|>``, turn end
    ``<|im_end|>``).
    """
    directory = str(model_dir or tokenizer.name_or_path)
    known = _END_OF_TURN.setdefault(tokenizer, {})
    if directory not in known:
        ids = {*_generation_eos(directory), _template_end_of_turn(tokenizer), tokenizer.eos_token_id}
        known[directory] = tuple(sorted(i for i in ids if i is not None))
    return known[directory]


def _generation_eos(model_dir: str) -> list[int]:
    """``generation_config.eos_token_id`` (an id or a list) of a local model directory; none without one."""
    from transformers import GenerationConfig

    if not Path(model_dir).is_dir():
        return []
    try:
        eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    except OSError:  # no generation_config.json
        return []
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


def _template_end_of_turn(tokenizer) -> int | None:
    """The first special token the chat template writes after an assistant reply (else a known one in the
    vocabulary)."""
    marker = "qup-end-of-turn-marker"
    special = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    try:
        text = tokenizer.apply_chat_template(_with_response([{"role": "user", "content": "1 + 1?"}], marker),
                                             tokenize=False, **TEMPLATE_OPTIONS)
    except (ValueError, jinja2.TemplateError):  # no template, or one that refuses this conversation
        text = ""
    if marker in text:
        after = tokenizer(text[text.rindex(marker) + len(marker):], add_special_tokens=False)["input_ids"]
        found = next((i for i in after if i in special), None)
        if found is not None:
            return found
    vocab = tokenizer.get_vocab()
    return next((vocab[t] for t in KNOWN_END_OF_TURN if t in vocab), None)


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
    prompt, up to and including the first end-of-turn token (``end_of_turn_ids``) it stops on.

    The prompt's ids are exactly those the engines generate from (``prompt_ids``); what the template
    renders after the prompt is tokenized on its own, as the model wrote it. Tokenizing the whole
    text at once would let the prompt's last token merge with the response's first: under ChatML,
    "assistant\\n" followed by a response that starts with "\\n\\n", "\\n " or two spaces. What a template
    renders after the end of turn (ChatML's "\\n") is never generated, so it is left out. Raises
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
    stops = set(end_of_turn_ids(tokenizer))
    end = next((i for i, token in enumerate(reply) if token in stops), None)
    if end is not None:
        reply = reply[:end + 1]
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
