"""A character-level tokenizer with a chat template, saved in the Hugging Face format.

The chat template wraps assistant turns in TRL's ``{% generation %}`` markers, so
``apply_chat_template(..., return_assistant_tokens_mask=True)`` and completion-only losses work
exactly as they do for hub models.
"""

from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD, UNK = "<s>", "<|end|>", "<pad>", "<unk>"
USER, ASSISTANT = "<|user|>", "<|assistant|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, USER, ASSISTANT]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}"
    "{% else %}"
    "<|user|>{{ message['content'] }}<|end|>"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

CHARACTERS = string.ascii_letters + string.digits + string.punctuation + " \n"


def build_char_tokenizer(extra_characters: str = "") -> PreTrainedTokenizerFast:
    """A tokenizer with one token per character of printable ASCII (plus ``extra_characters``)."""
    chars = list(dict.fromkeys(CHARACTERS + extra_characters))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + chars)}
    core = Tokenizer(BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.add_special_tokens(SPECIAL_TOKENS)
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[USER, ASSISTANT],
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )
