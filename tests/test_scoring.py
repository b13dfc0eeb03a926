"""Adaptation cost (NLL), reward models, style distance and the score stage."""

import json
import math
import shutil

import polars as pl
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForTokenClassification

from qup.chat import response_span
from qup.config import Params, RewardModelRef, ToyRMParams
from qup.scoring.nll import response_nll, top_loss_tokens
from qup.scoring.reward import HFOutcomeRewardModel, HFProcessRewardModel, join_steps, split_steps
from qup.scoring.style import style_distance
from qup.stats import bootstrap_mean
from qup.toy.tokenizer import build_char_tokenizer
from qup.toy.train_rm import build_reward_model

PAIRS = [
    ([{"role": "user", "content": "Ana has 3 pens. Ana buys 2 more. How many pens now?"}], "3 + 2 = 5\nAnswer: 5"),
    ([{"role": "user", "content": "Leo has 9 cards. Leo sells 4. How many cards now?"}],
     "Step 1: Leo starts with 9 cards.\nStep 2: Then taking away 4 leaves $9 - 4 = 5$ cards.\n"
     "Therefore, the final answer is $\\boxed{5}$."),
    ([{"role": "user", "content": "Q?"}], "7"),
]


@pytest.fixture(scope="module")
def slm(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)


def test_nll_equals_a_hand_computation(slm):
    model, tokenizer = slm
    conversation, response = PAIRS[0]
    ids, start = response_span(tokenizer, conversation, response)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    by_hand = [-torch.log_softmax(logits[t - 1], -1)[ids[t]].item() for t in range(start, len(ids))]
    result = response_nll(model, tokenizer, [PAIRS[0]])[0]
    assert result.token_ids == ids[start:]
    assert result.nll == pytest.approx(by_hand, abs=1e-5)
    assert result.perplexity == pytest.approx(math.exp(sum(by_hand) / len(by_hand)), rel=1e-5)
    quarters = result.quarter_perplexities()
    assert len(quarters) == 4 and all(q > 0 for q in quarters)


def test_left_and_right_padding_and_batching_give_the_same_nll(slm):
    model, tokenizer = slm
    right = response_nll(model, tokenizer, PAIRS, batch_size=3, padding_side="right")
    left = response_nll(model, tokenizer, PAIRS, batch_size=3, padding_side="left")
    single = [response_nll(model, tokenizer, [p], batch_size=1)[0] for p in PAIRS]
    for a, b, c in zip(right, left, single):
        assert a.nll == pytest.approx(b.nll, abs=1e-4) and a.nll == pytest.approx(c.nll, abs=1e-4)


def test_the_prompts_tokens_never_count(slm):
    model, tokenizer = slm
    response = "3 + 2 = 5\nAnswer: 5"
    short = response_nll(model, tokenizer, [([{"role": "user", "content": "Q?"}], response)])[0]
    long = response_nll(model, tokenizer, [([{"role": "user", "content": "A much longer question " * 5}], response)])[0]
    # one value per response token plus the end-of-turn token, whatever the prompt's length
    assert len(short.nll) == len(long.nll) == len(response) + 1
    assert short.token_ids == long.token_ids
    assert tokenizer.decode(short.token_ids[:-1]) == response


def test_top_loss_tokens_share_the_whole_loss(slm):
    model, tokenizer = slm
    results = response_nll(model, tokenizer, PAIRS)
    top = top_loss_tokens(results, tokenizer, n=1000)
    assert sum(t["loss_share"] for t in top) == pytest.approx(1.0)
    assert top == sorted(top, key=lambda t: -t["loss_share"])
    assert len(top_loss_tokens(results, tokenizer, n=5)) == 5


def test_prm_step_splitting():
    assert split_steps("a = 1\n\nb = 2\n\n\n c = 3 \n\n", "\n\n") == ["a = 1", "b = 2", "c = 3"]
    assert join_steps(["a", "b"], "<extra_0>") == "a<extra_0>b<extra_0>"


def test_a_prm_scores_each_step_at_its_separator(tmp_path):
    tokenizer = build_char_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<extra_0>"]})
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, num_labels=2,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    LlamaForTokenClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    prm = HFProcessRewardModel(str(tmp_path), label="prm", step_split="\n", step_separator="<extra_0>", aggregate="min")
    steps = prm.step_scores([(PAIRS[0][0], "3 + 2 = 5\nAnswer: 5"), (PAIRS[1][0], PAIRS[1][1])])
    assert [len(s) for s in steps] == [2, 3] and all(0 < p < 1 for s in steps for p in s)
    assert prm.score([(PAIRS[0][0], "3 + 2 = 5\nAnswer: 5")]) == [pytest.approx(min(steps[0]))]
    with pytest.raises(ValueError, match="not one token"):
        HFProcessRewardModel(str(tmp_path), label="prm", step_split="\n", step_separator="<sep>", aggregate="min")


def save_toy_reward_model(path):
    tokenizer = build_char_tokenizer()
    model = build_reward_model(tokenizer, ToyRMParams(hidden_size=32, intermediate_size=64, num_layers=1), seed=0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


def test_a_reward_model_saved_and_reloaded_scores_identically(tmp_path):
    model, tokenizer = save_toy_reward_model(tmp_path / "rm")
    loaded = HFOutcomeRewardModel(str(tmp_path / "rm"), label="toy", batch_size=2)
    scores = loaded.score(PAIRS)
    with torch.no_grad():
        direct = [model.eval()(torch.tensor([tokenizer.apply_chat_template(
            c + [{"role": "assistant", "content": r}], tokenize=True,
            return_dict=True)["input_ids"]])).logits[0, 0].item()
            for c, r in PAIRS]
    assert scores == pytest.approx(direct, abs=1e-5)
    assert (HFOutcomeRewardModel(str(tmp_path / "rm"), label="toy", batch_size=3).score(PAIRS)
            == pytest.approx(scores, abs=1e-5))


def test_style_distance_and_bootstrap():
    texts = ["3 + 2 = 5\nAnswer: 5", "9 - 4 = 5\nThe answer is 5."]
    same = style_distance(texts, texts)
    assert same["length_ratio"] == 1 and same["char3_jsd"] == 0 and same["word2_jsd"] == 0
    far = style_distance([PAIRS[1][1]], texts)
    assert far["length_ratio"] > 3 and 0 < far["word1_jsd"] <= 1
    ci = bootstrap_mean([1.0, 2.0, 3.0, None, float("nan")], seed=0)
    assert ci["n"] == 3 and ci["mean"] == 2.0 and 1.0 <= ci["ci_low"] <= 2.0 <= ci["ci_high"] <= 3.0
    assert bootstrap_mean([])["mean"] is None


def test_reward_model_labels_must_differ():
    from qup.config import ScoringParams

    assert (RewardModelRef(name="Skywork/Skywork-Reward-Llama-3.1-8B").column
            == "reward_skywork_skywork_reward_llama_3_1_8b")
    with pytest.raises(ValueError, match="share a label"):
        ScoringParams(reward_models=[RewardModelRef(name="toy"), RewardModelRef(name="toy")])


def test_the_score_stage_on_a_miniature_world(tmp_path, monkeypatch, tiny_model_dir):
    from stages import score

    shutil.copytree(tiny_model_dir, tmp_path / "data/models/slm")
    (tmp_path / "data/models/manifest.json").write_text(json.dumps(
        {"models": [{"role": "slm", "id": "toy", "revision": "r1", "path": "data/models/slm", "dtype": "float32"}]}))
    save_toy_reward_model(tmp_path / "data/reward_model")
    rows = [{"corpus": "style_aligned", "problem_id": f"p{i}", "trace_id": f"style_aligned:p{i}",
             "parent_id": f"sample:p{i}:0", "question": c[0]["content"], "response": r, "answer": "5", "gold": "5",
             "source_response": r + " ", "edit_distance": 0.1 * i} for i, (c, r) in enumerate(PAIRS)]
    (tmp_path / "data/corpora").mkdir(parents=True)
    (tmp_path / "data/samples").mkdir(parents=True)
    pl.DataFrame(rows).write_parquet(tmp_path / "data/corpora/style_aligned.parquet")
    pl.DataFrame({"response": ["3 + 2 = 5\nAnswer: 5", "9 - 4 = 5\nAnswer: 5"]}).write_parquet(
        tmp_path / "data/samples/native.parquet")
    params = Params.model_validate({"scoring": {"shard_size": 2, "bootstrap": 50}})
    monkeypatch.chdir(tmp_path)
    score.main(params, "style_aligned")
    scores = pl.read_parquet("data/scores/style_aligned.parquet")
    assert scores["trace_id"].to_list() == [r["trace_id"] for r in rows]
    assert {"perplexity", "ppl_q1", "ppl_q4", "reward_toy_orm", "edit_distance", "n_tokens"} <= set(scores.columns)
    metrics = json.loads(open("metrics/quality/style_aligned.json").read())
    assert metrics["traces"] == 3 and metrics["reward"]["toy_orm"]["n"] == 3
    assert metrics["perplexity"]["ci_low"] <= metrics["perplexity"]["mean"] <= metrics["perplexity"]["ci_high"]
    assert metrics["edit_distance"]["mean"] == pytest.approx(0.1)
    assert len(metrics["top_loss_tokens"]) == 20 and metrics["style"]["length_ratio"] > 1
    before = scores
    score.main(params, "style_aligned")  # a rerun reads every shard back from the cache
    assert pl.read_parquet("data/scores/style_aligned.parquet").equals(before)


def test_content_tokens_are_the_digits_and_operators_and_split_the_perplexity():
    from qup.scoring.nll import content_mask, split_perplexities

    tokenizer = build_char_tokenizer()
    text = "so 4 x 3 = 12 apples"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    mask = content_mask(tokenizer, ids)
    assert [c for c, m in zip(text, mask) if m] == ["4", "3", "=", "1", "2"]  # "x" is a letter too: template
    n = len(ids)
    content, template = split_perplexities([math.log(2)] * 5 + [0.0] * (n - 5), [True] * 5 + [False] * (n - 5))
    assert content == pytest.approx(2.0) and template == pytest.approx(1.0)
    assert split_perplexities([0.1], [False]) == (None, pytest.approx(math.exp(0.1)))


def test_scoring_runs_where_params_say_else_as_training_cuda_when_available(monkeypatch):
    from qup.scoring.device import scoring_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert scoring_device(None) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # resolution only: nothing moves to a GPU
    assert scoring_device(None) == "cuda" and scoring_device("cpu") == "cpu"


def test_the_nll_backend_loads_on_scoring_device_in_the_models_dtype_and_its_nll_is_unchanged(
        slm, tiny_model_dir, monkeypatch):
    from qup.scoring.nll import load_nll_model, nll_backend

    model, tokenizer = slm
    expected = response_nll(model, tokenizer, PAIRS)
    loaded = load_nll_model(str(tiny_model_dir))
    assert loaded.device.type == "cpu" and loaded.dtype == model.dtype
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # scoring.device: cpu wins over a GPU
    params = Params.model_validate({"scoring": {"device": "cpu"}})
    with nll_backend(params, {"path": str(tiny_model_dir)}) as (nll_fn, _):
        for a, b in zip(nll_fn(PAIRS), expected):
            assert a.token_ids == b.token_ids and a.nll == pytest.approx(b.nll, abs=1e-6)


def test_reward_models_open_on_scoring_device(tmp_path, monkeypatch):
    from qup.scoring.corpus import open_reward_model

    save_toy_reward_model(tmp_path / "rm")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    opened = open_reward_model(RewardModelRef(name="x", label="x"), str(tmp_path / "rm"), device="cpu")
    assert opened.device == "cpu" and next(opened.model.parameters()).device.type == "cpu"
