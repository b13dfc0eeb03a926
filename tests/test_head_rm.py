"""The reward model `slm_head`: the SLM's body with a head fitted on its graded samples."""

import polars as pl
import pytest

from qup.config import HeadRMParams
from qup.prompts import load_prompt
from qup.scoring.head_rm import right_over_wrong, train_head_reward_model
from qup.scoring.reward import HFOutcomeRewardModel


def graded(n):
    """Samples whose right and wrong responses differ in a way any body can see: the answer they end on."""
    problems = pl.DataFrame({"id": [f"p{i}" for i in range(n)], "question": [f"What is {i} + 1?" for i in range(n)]})
    rows = [{"problem_id": f"p{i}", "response": f"{i} + 1 = {i + 1}\nAnswer: {i + 1}" if i % 2 else
             f"{i} + 1 = {i + 7}\nAnswer: zzz", "correct": bool(i % 2)} for i in range(n)]
    return pl.DataFrame(rows), problems


def test_the_head_is_fitted_saved_and_scores_like_any_outcome_reward_model(tiny_model_dir, tmp_path):
    samples, problems = graded(40)
    out = tmp_path / "slm_head"
    metrics = train_head_reward_model(str(tiny_model_dir), samples, problems, load_prompt("toy_solve"), out,
                                      HeadRMParams(max_samples=40, held_out=0.25, threads=1), seed=0)
    assert metrics["rm_samples"] == 40 and metrics["rm_fit_samples"] == 30
    assert metrics["rm_right_over_wrong_fit"] > 0.9
    model = HFOutcomeRewardModel(str(out), label="slm_head")  # loads with its head: no missing weights
    conversation = [{"role": "user", "content": load_prompt("toy_solve").render(question="What is 3 + 1?")}]
    right, wrong = model.score([(conversation, "3 + 1 = 4\nAnswer: 4"), (conversation, "3 + 1 = 10\nAnswer: zzz")])
    assert right > wrong


def test_the_head_needs_right_and_wrong_samples(tiny_model_dir, tmp_path):
    samples, problems = graded(6)
    with pytest.raises(ValueError, match="right and wrong samples"):
        train_head_reward_model(str(tiny_model_dir), samples.with_columns(pl.lit(True).alias("correct")), problems,
                                load_prompt("toy_solve"), tmp_path / "x", HeadRMParams(threads=1), seed=0)


def test_right_over_wrong_is_the_auc():
    import torch

    assert right_over_wrong(torch.tensor([3.0, 2.0, 1.0]), torch.tensor([1, 1, 0])) == 1.0
    assert right_over_wrong(torch.tensor([1.0, 1.0]), torch.tensor([1, 0])) == 0.5
