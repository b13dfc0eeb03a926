"""CADFT: DFT whose per-sample weight falls with the sample's NLL under the model, z-scored within the batch."""

import math

import pytest
import torch

from qup.config import TrainParams
from qup.objectives import cadft_loss, cadft_weights, next_token_log_probs
from qup.prompts import load_prompt
from qup.training import loss_function, sft_config, sft_dataset, train_checkpoint
from tests.test_training import corpus

L3 = math.log(3)


def three_token_batch():
    """Two samples of 3 positions over a vocabulary of 2; 3 trained next-token labels in all.

    Sample a: position 0 predicts 0 at p = 3/4 (logits ln 3, 0), position 1 predicts 1 at p = 1/2 (logits 0, 0).
    Sample b: its prompt is 2 tokens; position 1 predicts 0 at p = 1/4 (logits 0, ln 3).
    """
    logits = torch.tensor([[[L3, 0.0], [0.0, 0.0], [5.0, -5.0]],
                           [[9.0, 1.0], [0.0, L3], [2.0, 7.0]]])
    labels = torch.tensor([[-100, 0, 1], [-100, -100, 0]])
    return logits, labels


def test_the_weights_and_loss_of_a_three_token_batch_equal_a_hand_computation():
    logits, labels = three_token_batch()
    nll_a = (math.log(4 / 3) + math.log(2)) / 2  # 0.4904
    nll_b = math.log(4)  # 1.3863: b is the less compatible sample
    mean = (nll_a + nll_b) / 2
    std = abs(nll_b - nll_a) / 2  # population std of two values
    z_a, z_b = (nll_a - mean) / std, (nll_b - mean) / std
    assert (z_a, z_b) == pytest.approx((-1.0, 1.0))
    for beta in (1.0, 0.5):
        w_a, w_b = math.exp(-beta * max(0.0, z_a)), math.exp(-beta * max(0.0, z_b))  # 1 and e^-β
        log_probs, mask = next_token_log_probs(logits, labels)
        assert cadft_weights(log_probs, mask, beta).tolist() == pytest.approx([w_a, w_b])
        # DFT's token losses p·(−log p), each sample's times its weight, over the 3 trained tokens
        a = 3 / 4 * math.log(4 / 3) + 1 / 2 * math.log(2)
        b = 1 / 4 * math.log(4)
        assert cadft_loss(logits, labels, beta).item() == pytest.approx((w_a * a + w_b * b) / 3)
        # within an optimiser step of 6 trained tokens (gradient accumulation), divided by 6 as DFT's
        assert cadft_loss(logits, labels, beta, num_items_in_batch=torch.tensor(6)).item() == pytest.approx(
            (w_a * a + w_b * b) / 6)
    assert cadft_loss(logits, labels, 1.0).item() == pytest.approx(0.229945, abs=1e-6)


def test_beta_zero_is_dft_and_a_higher_nll_gets_a_lower_weight():
    torch.manual_seed(0)
    logits = torch.randn(5, 7, 11)
    labels = torch.randint(0, 11, (5, 7))
    labels[:, :2] = -100
    log_probs, mask = next_token_log_probs(logits, labels)
    dft = (-(log_probs * log_probs.exp())[mask]).sum() / mask.sum()
    assert cadft_loss(logits, labels, 0.0).item() == pytest.approx(dft.item(), rel=1e-6)
    nll = -(log_probs * mask).sum(1) / mask.sum(1)
    weights = cadft_weights(log_probs, mask, 1.0)
    order = nll.argsort()
    assert (weights[order].diff() <= 0).all() and weights[order[-1]] < weights[order[0]] == 1.0
    assert cadft_loss(logits, labels, 1.0).item() < dft.item()  # weights at most 1: below DFT's loss
    # the weights carry no gradient: the loss's gradient is DFT's, each sample's times its weight
    logits.requires_grad_(True)
    cadft_loss(logits, labels, 1.0).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[order[0]].abs().sum() > 0


def test_a_batch_of_one_sample_or_of_equal_nlls_weighs_every_sample_one():
    logits, labels = three_token_batch()
    log_probs, mask = next_token_log_probs(logits[1:], labels[1:])
    assert cadft_weights(log_probs, mask, 1.0).tolist() == [1.0]
    same = logits[:1].repeat(3, 1, 1)
    log_probs, mask = next_token_log_probs(same, labels[:1].repeat(3, 1))
    assert cadft_weights(log_probs, mask, 1.0).tolist() == [1.0, 1.0, 1.0]
    # a sample with no trained token (all prompt) adds nothing and does not count in the z-scores
    no_tokens = torch.cat([labels, torch.full((1, 3), -100)])
    log_probs, mask = next_token_log_probs(torch.cat([logits, logits[:1]]), no_tokens)
    assert cadft_weights(log_probs, mask, 1.0).tolist() == pytest.approx([1.0, math.exp(-1), 1.0])


def test_sft_and_dft_keep_trl_s_loss_and_cadft_replaces_it_with_a_hook(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert loss_function(TrainParams(objective="sft")) is None and loss_function(TrainParams(objective="dft")) is None
    assert sft_config(TrainParams(objective="cadft"), tmp_path, 0, "fp32").loss_type == "nll"
    assert sft_config(TrainParams(objective="dft"), tmp_path, 0, "fp32").loss_type == "dft"
    with pytest.raises(ValueError, match="cadft_beta"):
        TrainParams(objective="cadft", cadft_beta=-1)


def test_cadft_at_beta_zero_through_the_trainer_equals_trl_s_dft(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = sft_dataset(corpus("native", ["a", "b", "c"]), ["a", "b", "c"], load_prompt("toy_solve"))
    losses = {}
    for objective, beta in (("dft", 1.0), ("cadft", 0.0), ("cadft", 1.0)):
        params = TrainParams(objective=objective, cadft_beta=beta, batch_size=3, device="cpu")
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        trainer = SFTTrainer(model=model, args=sft_config(params, tmp_path, seed=0), train_dataset=data,
                             processing_class=tokenizer, compute_loss_func=loss_function(params))
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
        with torch.no_grad():
            losses[objective, beta] = trainer.compute_loss(trainer.model, batch).item()
    assert losses["cadft", 0.0] == pytest.approx(losses["dft", 1.0], rel=1e-5)
    assert losses["cadft", 1.0] < losses["dft", 1.0]


def test_a_corpus_trains_under_cadft(tiny_model_dir, tmp_path):
    ids = [f"p{i}" for i in range(4)]
    data = sft_dataset(corpus("native", ids), ids, load_prompt("toy_solve"))
    params = TrainParams(objective="cadft", examples=4, batch_size=2, global_batch_size=4, epochs=2, save_steps=2,
                         device="cpu", threads=1, seeds=[0])
    result = train_checkpoint(str(tiny_model_dir), data, tmp_path / "out", params, seed=0,
                              work_dir=tmp_path / "work", live_dir=tmp_path / "live")
    assert result["steps"] == 2 and math.isfinite(result["train_loss"]) and result["train_loss"] > 0
    assert (tmp_path / "out/adapter_model.safetensors").exists()
    assert (tmp_path / "live/plots/metrics/train/loss.tsv").exists()
