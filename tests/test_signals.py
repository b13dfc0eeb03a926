"""Which pre-training signal predicts utility: rank correlations across corpora, with their reading."""

import pytest

from qup.report.signals import run_signals, signals_table, word


def row(avg, reward, ppl, jsd=0.1, edit=None, select=None):
    """A summary row as ``metrics/summary.json`` holds it."""
    return {"avg_at_k": {"mean": avg}, "reward": {"toy_orm": {"mean": reward}}, "perplexity": {"mean": ppl},
            "char3_jsd": jsd, "edit_distance": None if edit is None else {"mean": edit}, "select_score": select}


def test_a_reward_that_rises_with_utility_predicts_it_and_a_reversed_one_misleads():
    rows = {f"c{i}": row(avg=0.1 * i, reward=0.2 * i, ppl=3.0 - 0.1 * i) for i in range(1, 7)}
    signals = run_signals(rows)
    assert signals["reward (toy_orm)"]["rho"] == pytest.approx(1.0) and signals["reward (toy_orm)"]["n"] == 6
    assert signals["reward (toy_orm)"]["word"] == "predicts"
    assert signals["perplexity"]["rho"] == pytest.approx(-1.0) and signals["perplexity"]["word"] == "predicts"
    reversed_rows = {f"c{i}": row(avg=0.1 * i, reward=-0.2 * i, ppl=2.0 + 0.1 * i) for i in range(1, 7)}
    signals = run_signals(reversed_rows)
    assert signals["reward (toy_orm)"]["word"] == "misleads" and signals["perplexity"]["word"] == "misleads"
    assert signals["style JSD (char-3)"]["rho"] is None and signals["style JSD (char-3)"]["word"] == "cannot tell"


def test_a_signal_some_corpora_lack_is_computed_over_the_others_and_says_n():
    rows = {f"c{i}": row(avg=0.1 * i, reward=0.2 * i, ppl=2.0, edit=0.5 - 0.05 * i if i <= 4 else None)
            for i in range(1, 8)}
    signals = run_signals(rows)
    assert signals["reward (toy_orm)"]["n"] == 7 and signals["edit distance"]["n"] == 4
    assert signals["edit distance"]["rho"] == pytest.approx(-1.0)
    assert signals["edit distance"]["word"] == "cannot tell"  # a perfect order of 4 arises by chance 1 time in 12
    assert "select score" not in signals  # no corpus has one


def test_an_interval_that_covers_zero_cannot_tell():
    assert word({"rho": 0.6, "ci_low": -0.3, "ci_high": 0.9, "n": 8}, +1) == "cannot tell"
    assert word({"rho": -0.9, "ci_low": -0.98, "ci_high": -0.6, "n": 8}, +1) == "misleads"
    assert word({"rho": -0.9, "ci_low": -0.98, "ci_high": -0.6, "n": 8}, -1) == "predicts"
    noisy = {f"c{i}": row(avg=a, reward=r, ppl=2.0) for i, (a, r) in
             enumerate([(0.1, 0.3), (0.2, 0.1), (0.3, 0.5), (0.4, 0.2), (0.5, 0.6), (0.6, 0.4)])}
    block = run_signals(noisy)["reward (toy_orm)"]
    assert block["ci_low"] < 0 < block["ci_high"] and block["word"] == "cannot tell"


def test_the_table_has_a_line_per_signal_with_n_rho_and_its_reading():
    rows = {f"c{i}": row(avg=0.1 * i, reward=0.2 * i, ppl=3.0 - 0.1 * i, jsd=[0.3, 0.1, 0.4, 0.2, 0.5, 0.0][i - 1],
                         edit=0.1 * i if i <= 3 else None, select=0.5 if i == 6 else None) for i in range(1, 7)}
    table = signals_table(run_signals(rows), 4)
    assert "| signal | n corpora | Spearman ρ with Avg@4 [95% CI] | predicts if ρ | reads |" in table
    assert "| reward (toy_orm) | 6 | +1.00 | + | predicts |" in table
    assert "| perplexity | 6 | -1.00 | - | predicts |" in table
    # JSD ranks 4 2 5 3 6 1 against 1..6: rho = 1 - 6*40/(6*35) = -1/7, Fisher-z half-width 1.96*sqrt(1.06/3)
    assert "| style JSD (char-3) | 6 | -0.14 [-0.86, +0.77] | - | cannot tell |" in table
    assert "| edit distance | 3 | +1.00 | - | cannot tell |" in table
    assert "| select score | 1 | n/a | + | cannot tell |" in table
