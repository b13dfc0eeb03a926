"""The three-way verdict, each branch from inputs built by hand: never "shows" from point estimates."""

from qup.verdict import CANNOT_TELL, DOES_NOT_SHOW, SHOWS, paradox, remedy, sentence

ORACLES = ["oracle_refined", "oracle_synth"]


def delta(mean, low, high, p=0.01):
    return {"mean": mean, "ci_low": low, "ci_high": high, "se": (high - low) / 4, "p_value": p}


def corpus(reward, d_native, spread=0.01):
    return {"reward": {"rm": {"mean": reward, "ci_low": reward - spread, "ci_high": reward + spread}},
            "delta_vs_native": d_native}


NATIVE = corpus(0.5, delta(0.0, 0.0, 0.0, 1.0))


def test_the_paradox_is_shown_only_when_the_reward_is_higher_and_the_interval_lies_below_zero():
    rows = {"native": NATIVE, "oracle_synth": corpus(0.9, delta(-0.06, -0.09, -0.03))}
    assert paradox(rows, "rm", ORACLES)["status"] == SHOWS


def test_a_large_point_gap_whose_interval_spans_zero_cannot_tell():
    rows = {"native": NATIVE, "oracle_synth": corpus(0.9, delta(-0.08, -0.2, 0.04, p=0.2))}
    assert paradox(rows, "rm", ORACLES)["status"] == CANNOT_TELL
    text, _ = sentence(rows, "reward_rm", 6, oracles=ORACLES, remedy_corpus=None, mde=0.288)
    assert text.startswith("The paradox: this run cannot tell it at this budget (minimum detectable effect 0.288): ")


def test_an_oracle_corpus_that_trains_better_or_scores_lower_does_not_show_it():
    better = {"native": NATIVE, "oracle_synth": corpus(0.9, delta(0.05, 0.02, 0.08))}
    assert paradox(better, "rm", ORACLES)["status"] == DOES_NOT_SHOW
    lower_reward = {"native": NATIVE, "oracle_synth": corpus(0.3, delta(-0.06, -0.09, -0.03))}
    assert paradox(lower_reward, "rm", ORACLES)["corpora"]["oracle_synth"]["reward_side"] == "below"
    assert paradox(lower_reward, "rm", ORACLES)["status"] == DOES_NOT_SHOW


def test_overlapping_rewards_cannot_tell_and_one_showing_corpus_is_enough():
    overlapping = {"native": NATIVE, "oracle_synth": corpus(0.505, delta(-0.06, -0.09, -0.03))}
    assert paradox(overlapping, "rm", ORACLES)["status"] == CANNOT_TELL
    mixed = {"native": NATIVE, "oracle_synth": corpus(0.9, delta(-0.06, -0.09, -0.03)),
             "oracle_refined": corpus(0.9, delta(-0.01, -0.05, 0.03, p=0.6))}
    found = paradox(mixed, "rm", ORACLES)
    assert found["status"] == SHOWS and found["corpora"]["oracle_refined"]["status"] == CANNOT_TELL


def test_the_remedy_against_the_best_oracle_corpus_and_against_native():
    rows = {"native": NATIVE, "style_aligned": corpus(0.5, delta(0.01, -0.02, 0.04, p=0.5))}
    found = remedy(rows, "style_aligned", delta(0.05, 0.02, 0.08), "oracle_synth")
    assert found["vs_best_oracle"]["status"] == SHOWS and found["vs_native"]["status"] == CANNOT_TELL
    worse = remedy({"native": NATIVE, "style_aligned": corpus(0.5, delta(-0.05, -0.08, -0.02))}, "style_aligned",
                   delta(-0.03, -0.05, -0.01), "oracle_synth")
    assert worse["vs_best_oracle"]["status"] == DOES_NOT_SHOW and worse["vs_native"]["status"] == DOES_NOT_SHOW


def test_the_sentence_quotes_every_delta_with_its_interval():
    rows = {"native": NATIVE, "oracle_synth": corpus(0.9, delta(-0.06, -0.09, -0.03, p=0.002)),
            "style_aligned": corpus(0.5, delta(0.015, -0.013, 0.045, p=0.3))}
    text, data = sentence(rows, "reward_rm", 8, oracles=ORACLES, remedy_corpus="style_aligned",
                          best_oracle="oracle_synth", vs_best_oracle=delta(0.07, 0.04, 0.1), mde=0.031)
    assert text.startswith("The paradox: this run shows it (minimum detectable effect 0.031)")
    assert "Δ -0.060 [-0.090, -0.030], p=0.002" in text
    assert "against the best Oracle corpus (oracle_synth) it shows a gain" in text
    assert "The remedy, style_aligned: against the best Oracle corpus" in text
    assert "against native it cannot tell at this budget, Δ +0.015 [-0.013, +0.045]" in text
    assert data["paradox"]["status"] == SHOWS and data["remedy"]["vs_native"]["status"] == CANNOT_TELL
    assert "cannot be judged" in sentence({"native": NATIVE}, "reward_rm", 8, oracles=ORACLES, remedy_corpus=None)[0]
    assert "cannot be judged" in sentence(rows, None, 8, oracles=ORACLES, remedy_corpus=None)[0]


def with_ppl(row, ppl, spread=0.01):
    return {**row, "perplexity": {"mean": ppl, "ci_low": ppl - spread, "ci_high": ppl + spread}}


def test_adaptation_cost_orders_with_utility_only_where_both_intervals_are_apart():
    from qup.verdict import adaptation

    rows = {"native": with_ppl(NATIVE, 1.10),
            "oracle_synth": with_ppl(corpus(0.9, delta(-0.10, -0.13, -0.07)), 1.40),   # costlier, worse: orders
            "oracle_refined": with_ppl(corpus(0.9, delta(0.05, 0.02, 0.08)), 1.30),    # costlier, better: against
            "style_aligned": with_ppl(corpus(0.5, delta(-0.01, -0.03, 0.01)), 1.05)}  # Δ spans 0: cannot tell
    text, found = adaptation(rows, 8)
    statuses = {name: v["status"] for name, v in found["corpora"].items()}
    assert statuses == {"oracle_synth": SHOWS, "oracle_refined": DOES_NOT_SHOW, "style_aligned": CANNOT_TELL}
    assert (found["ordered"], found["against"]) == (1, 1)
    assert "orders with utility for 1 of 3 corpora and against it for 1" in text
    assert "oracle_synth perplexity 1.400, Avg@8 Δ -0.100 [-0.130, -0.070]" in text
    wide = adaptation(rows, 8, {"rho": -0.3, "ci_low": -0.94, "ci_high": 0.81})[0]
    assert wide.endswith("Spearman -0.30 [-0.94, +0.81], cannot tell.")
    assert adaptation(rows, 8, {"rho": -0.99, "ci_low": -1.0, "ci_high": -0.6})[0].endswith("it does.")
