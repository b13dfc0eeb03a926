import pytest
import torch

import qup.toy.train_slm as train_module
from qup.config import ToyParams, ToySLMParams
from qup.toy.tokenizer import build_char_tokenizer

PARAMS = ToySLMParams(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, train_steps=8,
                      warmup_steps=1, checkpoint_every=3, batch_size=4, threads=1)


def train(tokenizer, checkpoint_dir):
    return train_module.train_slm(tokenizer, PARAMS, ToyParams(), seed=0, exclude=set(),
                                  checkpoint_dir=checkpoint_dir, progress=False)


def test_a_crashed_run_resumes_from_its_checkpoint_and_matches_an_unbroken_run(tmp_path, monkeypatch):
    tokenizer = build_char_tokenizer()
    unbroken, _ = train(tokenizer, tmp_path / "a")

    real_make_batch = train_module.make_batch
    calls = {"n": 0}

    def crash_at_step_five(*args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_make_batch(*args)

    monkeypatch.setattr(train_module, "make_batch", crash_at_step_five)
    with pytest.raises(KeyboardInterrupt):
        train(tokenizer, tmp_path / "b")
    assert (tmp_path / "b" / "state.pt").exists()
    monkeypatch.setattr(train_module, "make_batch", real_make_batch)
    resumed, summary = train(tokenizer, tmp_path / "b")
    assert summary["resumed_from_step"] == 3
    assert not (tmp_path / "b").exists()
    for (name, a), (_, b) in zip(unbroken.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_curriculum_unlocks_longer_problems_over_training():
    params = ToySLMParams(train_steps=1000, curriculum_fraction=0.5)
    toy = ToyParams(min_steps=2, max_steps=4)
    assert [train_module.curriculum(s, params, toy).max_steps for s in (0, 166, 167, 400, 999)] == [2, 2, 3, 4, 4]
    assert train_module.curriculum(0, ToySLMParams(curriculum_fraction=0), toy).max_steps == 4


def test_a_checkpoint_cut_short_by_a_crash_is_removed_and_the_last_complete_one_resumes(tmp_path):
    from qup.training import last_checkpoint

    for step, complete in ((2, True), (4, True), (6, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}/trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert not (tmp_path / "checkpoint-6").exists() and last_checkpoint(tmp_path / "missing") is None
