import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from qup.engines import Sampling
from qup.engines.hf import HFEngine

CONVERSATION = [{"role": "user", "content": "Tom has 3 pens. Tom buys 4 more. How many pens does Tom have now?"},
                {"role": "assistant", "content": "3 + 4 = 7\nAnswer: 7"}]


def test_tokenizer_round_trip_through_from_pretrained(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "Tom has 12 apples.\n12+7=19 {x} $\\boxed{19}$"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tokenizer.decode(ids) == text
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id is not None


def test_chat_template_marks_only_the_assistant_turn(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    encoded = tokenizer.apply_chat_template(CONVERSATION, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
    kept = [t for t, keep in zip(encoded["input_ids"], encoded["assistant_masks"]) if keep]
    assert tokenizer.decode(kept) == "3 + 4 = 7\nAnswer: 7" + tokenizer.eos_token
    prompt = tokenizer.apply_chat_template(CONVERSATION[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.startswith(tokenizer.bos_token) and prompt.endswith("<|assistant|>")


def test_model_saved_and_loaded_gives_the_same_logits(tiny_model_dir, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.save_pretrained(tmp_path)
    again = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([[1, 4, 20, 30, 40]])
    assert torch.equal(model(ids).logits, again(ids).logits)
    assert model.config.model_type == "llama" and model.config.tie_word_embeddings


def test_hf_engine_generates_n_samples_and_greedy_is_batch_independent(tiny_model_dir):
    engine = HFEngine(str(tiny_model_dir), batch_size=3, progress=False)
    conversations = [CONVERSATION[:1], [{"role": "user", "content": "Ana has 5 coins. How many?"}]]
    sampled = engine.generate(conversations, 4, Sampling(temperature=1.0, max_new_tokens=12, seed=1))
    assert [len(s) for s in sampled] == [4, 4]
    assert all(c.n_tokens <= 12 and c.finish_reason in ("stop", "length") for s in sampled for c in s)
    again = engine.generate(conversations, 4, Sampling(temperature=1.0, max_new_tokens=12, seed=1))
    assert sampled == again
    alone = engine.generate(conversations[1:], 4, Sampling(temperature=1.0, max_new_tokens=12, seed=1), seeds=[1])
    assert alone[0] == sampled[1]  # a request's sample does not depend on its batch-mates
    assert len({c.text for c in sampled[0]}) > 1
    greedy_batched = engine.generate(conversations, 1, Sampling(temperature=0, max_new_tokens=12))
    greedy_alone = [engine.generate([c], 1, Sampling(temperature=0, max_new_tokens=12))[0] for c in conversations]
    assert greedy_batched == greedy_alone


def test_inverse_cdf_sampling_follows_the_distribution_and_never_picks_a_zero_probability_token():
    import torch

    from qup.engines.hf import _inverse_cdf

    probs = torch.tensor([[0.0, 0.5, 0.0, 0.5], [0.1, 0.0, 0.9, 0.0]]).repeat(5000, 1)
    chosen = _inverse_cdf(probs, torch.rand(probs.shape[0], generator=torch.Generator().manual_seed(0)))
    first, second = chosen[0::2], chosen[1::2]
    assert set(first.tolist()) == {1, 3} and set(second.tolist()) == {0, 2}
    assert abs((first == 1).float().mean().item() - 0.5) < 0.03
    assert abs((second == 0).float().mean().item() - 0.1) < 0.02
    edge = _inverse_cdf(torch.tensor([[0.3, 0.7, 0.0]]), torch.tensor([0.99999994]))  # the top of [0, 1)
    assert edge.item() == 1
    with pytest.raises(ValueError, match="sum to 0"):
        _inverse_cdf(torch.zeros(1, 3), torch.tensor([0.5]))
