import itertools
import math

import numpy as np
import pytest

from qup import stats

Z_975 = 1.959963984540054  # standard normal 97.5% quantile, written out to check stats independently


def test_bootstrap_mean_drops_missing_values_and_is_seeded():
    values = [0.5, None, 1.0, float("nan"), 0.0, 0.25, 1.0, 0.75, 0.125]
    for seed, resamples, level in [(0, 1000, 0.95), (7, 300, 0.9), (123, 50, 0.5)]:
        new = stats.bootstrap_mean(values, seed=seed, resamples=resamples, level=level)
        assert new == stats.bootstrap_mean(values, seed=seed, resamples=resamples, level=level)
        assert new["n"] == 7 and new["ci_low"] <= new["mean"] <= new["ci_high"]


def test_bootstrap_mean_of_nothing_is_empty():
    assert stats.bootstrap_mean([None, float("nan")]) == {"mean": None, "ci_low": None, "ci_high": None, "n": 0}


def test_pass_at_k_matches_brute_force_over_all_k_subsets():
    for n in range(1, 8):
        for c in range(n + 1):
            samples = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(samples, k))
                expected = sum(any(s) for s in subsets) / len(subsets)
                assert stats.pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12), (n, c, k)


def test_pass_at_k_edges_and_large_n():
    assert stats.pass_at_k(16, 0, 4) == 0.0
    assert stats.pass_at_k(16, 16, 4) == 1.0
    assert stats.pass_at_k(10, 8, 3) == 1.0  # fewer than k wrong samples: every k-subset has a right one
    assert stats.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # C(n-1, n/2) / C(n, n/2) = 1/2, far beyond what the binomials themselves could hold in a float
    assert stats.pass_at_k(2000, 1, 1000) == pytest.approx(0.5, abs=1e-12)
    assert isinstance(stats.pass_at_k(8, 2, 2), float)


@pytest.mark.parametrize("n,c,k", [(4, 1, 5), (4, 5, 2), (4, -1, 2)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        stats.pass_at_k(n, c, k)


def test_majority_tie_goes_to_the_answer_seen_first():
    assert stats.majority_correct(["7", "5", "5", "7"], [False, True, True, False]) is False
    assert stats.majority_correct(["5", "7", "7", "5"], [True, False, False, True]) is True


def test_majority_plain_vote_beats_order():
    assert stats.majority_correct(["7", "5", "5"], [False, True, True]) is True


def test_majority_ignores_missing_answers():
    assert stats.majority_correct([None, None, None, "3"], [True, True, True, False]) is False
    assert stats.majority_correct([None, "4", None], [False, True, False]) is True
    assert stats.majority_correct([None, None], [True, True]) is False
    assert stats.majority_correct([], []) is False


def test_majority_votes_on_stripped_answers_and_uses_the_first_carriers_correctness():
    assert stats.majority_correct(["5", " 4", "4 \n", "6"], [False, True, True, False]) is True
    assert stats.majority_correct([" 4", "4", "5"], [True, False, False]) is True


def test_majority_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        stats.majority_correct(["1", "2"], [True])


def _simulated_scores(rng, seeds, problems, mean=0.5, difficulty=0.2):
    """Per-seed offset, a difficulty per problem that every seed shares, and noise, around ``mean``."""
    return (mean + rng.normal(0, 0.02, (seeds, 1)) + rng.normal(0, difficulty, (1, problems))
            + rng.normal(0, 0.2, (seeds, problems)))


@pytest.mark.parametrize("difficulty", [0.0, 0.2])
def test_the_interval_covers_the_true_mean_when_seeds_share_their_problems(difficulty):
    # a new problem set and new seeds each time: the interval must reach the mean of the population
    rng = np.random.default_rng(2024)
    covered = 0
    for i in range(100):
        result = stats.crossed_bootstrap(_simulated_scores(rng, 5, 100, difficulty=difficulty), seed=i,
                                         resamples=400)
        covered += result["ci_low"] <= 0.5 <= result["ci_high"]
    assert covered >= 89


def test_crossed_se_shrinks_with_more_problems():
    rng = np.random.default_rng(1)
    few = stats.crossed_bootstrap(rng.normal(0.5, 0.2, (3, 50)), resamples=500)
    many = stats.crossed_bootstrap(rng.normal(0.5, 0.2, (3, 800)), resamples=500)
    assert many["se"] < few["se"] / 2  # about 4x smaller for 16x the problems


def test_crossed_with_one_seed_is_a_problem_bootstrap():
    scores = np.random.default_rng(3).random((1, 400))
    result = stats.crossed_bootstrap(scores.tolist(), resamples=2000)
    expected_se = scores.std(ddof=1) / math.sqrt(400)
    assert result["mean"] == pytest.approx(scores.mean())
    assert result["se"] == pytest.approx(expected_se, rel=0.15)
    assert result["ci_low"] < result["mean"] < result["ci_high"]
    assert result["ci_high"] - result["ci_low"] == pytest.approx(2 * Z_975 * expected_se, rel=0.15)


def test_crossed_is_seeded_json_ready_and_degenerate_for_constant_scores():
    scores = np.random.default_rng(4).random((3, 30))
    first = stats.crossed_bootstrap(scores, seed=5, resamples=200)
    assert first == stats.crossed_bootstrap(scores, seed=5, resamples=200)
    assert first != stats.crossed_bootstrap(scores, seed=6, resamples=200)
    assert all(type(v) is float for v in first.values())
    flat = stats.crossed_bootstrap(np.full((2, 10), 0.25), resamples=100)
    assert flat == {"mean": 0.25, "ci_low": 0.25, "ci_high": 0.25, "se": 0.0}


def test_crossed_rejects_a_one_dimensional_input():
    with pytest.raises(ValueError, match="2-D"):
        stats.crossed_bootstrap([0.1, 0.2, 0.3])


def test_paired_difference_of_identical_runs_is_zero_with_p_one():
    a = np.random.default_rng(5).random((3, 40))
    result = stats.paired_difference(a, a.copy())
    assert result == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0, "se": 0.0, "p_value": 1.0}


def test_paired_difference_finds_a_clear_shift():
    rng = np.random.default_rng(6)
    a = rng.random((3, 200))
    b = a - 0.2 + rng.normal(0, 0.05, a.shape)
    result = stats.paired_difference(a, b, resamples=2000)
    assert result["mean"] == pytest.approx(0.2, abs=0.02)
    assert 0 < result["ci_low"] < result["mean"] < result["ci_high"]
    assert result["p_value"] < 0.01
    # no resample on the far side of 0: p is the smallest the bootstrap can give
    assert stats.paired_difference(a, b, resamples=99)["p_value"] == pytest.approx(2 / 100)


def test_paired_difference_without_a_shift_is_not_significant():
    rng = np.random.default_rng(7)
    a = rng.random((3, 200))
    b = a + rng.normal(0, 0.05, a.shape)
    result = stats.paired_difference(a, b, resamples=2000)
    assert result["ci_low"] < 0 < result["ci_high"]
    assert result["p_value"] > 0.05


def test_the_p_value_agrees_with_the_interval():
    rng = np.random.default_rng(11)
    for shift in (0.0, 0.005, 0.01, 0.02, 0.05):
        a = rng.random((3, 100))
        b = a - shift + rng.normal(0, 0.05, a.shape)
        result = stats.paired_difference(a, b, resamples=1000)
        excludes_zero = result["ci_low"] > 0 or result["ci_high"] < 0
        assert excludes_zero == (result["p_value"] < 0.05) or abs(result["p_value"] - 0.05) < 0.01


def test_paired_interval_is_the_crossed_bootstrap_of_the_differences():
    rng = np.random.default_rng(8)
    a, b = rng.random((4, 60)), rng.random((4, 60))
    paired = stats.paired_difference(a, b, seed=3, resamples=300)
    alone = stats.crossed_bootstrap(a - b, seed=3, resamples=300)
    assert {key: paired[key] for key in alone} == alone


def test_pairing_removes_a_shared_per_problem_effect():
    rng = np.random.default_rng(9)
    difficulty = rng.random(300)  # large, shared by both models on each problem
    a = difficulty + rng.normal(0, 0.03, (3, 300))
    b = difficulty - 0.02 + rng.normal(0, 0.03, (3, 300))
    paired = stats.paired_difference(a, b, resamples=500)
    alone_a = stats.crossed_bootstrap(a, resamples=500)
    alone_b = stats.crossed_bootstrap(b, resamples=500, seed=1)
    unpaired_se = math.hypot(alone_a["se"], alone_b["se"])
    assert paired["se"] < unpaired_se / 3
    assert paired["ci_high"] - paired["ci_low"] < (alone_a["ci_high"] - alone_a["ci_low"]) / 2
    assert paired["ci_low"] > 0 and paired["p_value"] < 0.01


def test_paired_difference_rejects_different_shapes():
    with pytest.raises(ValueError, match="same"):
        stats.paired_difference(np.zeros((3, 10)), np.zeros((3, 11)))


def test_minimum_detectable_effect():
    assert stats.minimum_detectable_effect(1.0) == pytest.approx(2.8016, abs=1e-4)
    assert stats.minimum_detectable_effect(0.01) == pytest.approx(0.028016, abs=1e-6)
    assert stats.minimum_detectable_effect(1.0, alpha=0.01, power=0.9) == pytest.approx(2.5758 + 1.2816, abs=1e-4)


def test_spearman_with_ties_uses_average_ranks():
    # ranks x: 1, 2.5, 2.5, 4 and y: 1, 3, 2, 4 -> rho = 4.5 / sqrt(4.5 * 5)
    assert stats.spearman([1, 2, 2, 3], [10, 30, 20, 40]) == pytest.approx(math.sqrt(0.9))


def test_spearman_is_about_order_only():
    x = [1, 2, 3, 4, 5]
    assert stats.spearman(x, [1, 8, 27, 64, 125]) == pytest.approx(1.0)
    assert stats.spearman(np.array(x), np.array([5.0, 4, 3, 2, 1])) == pytest.approx(-1.0)


def test_spearman_is_none_for_too_few_points_or_no_spread():
    assert stats.spearman([1, 2], [2, 1]) is None
    assert stats.spearman([1, 1, 1], [1, 2, 3]) is None
    assert stats.spearman([1, 2, 3], [4, 4, 4]) is None


def test_spearman_interval_known_value():
    x = list(range(1, 11))
    y = [2, 1, 4, 3, 6, 5, 8, 7, 10, 9]  # every rank off by one: rho = 1 - 6 * 10 / (10 * 99)
    rho = 1 - 60 / 990
    half = Z_975 * math.sqrt(1.06 / 7)
    result = stats.spearman_interval(x, y)
    assert result["n"] == 10
    assert result["rho"] == pytest.approx(rho)
    assert result["ci_low"] == pytest.approx(math.tanh(math.atanh(rho) - half))
    assert result["ci_high"] == pytest.approx(math.tanh(math.atanh(rho) + half))
    narrower = stats.spearman_interval(x, y, level=0.8)
    assert result["ci_low"] < narrower["ci_low"] < rho < narrower["ci_high"] < result["ci_high"]


def test_spearman_interval_is_none_when_it_cannot_be_formed():
    assert stats.spearman_interval([1, 2, 3], [1, 3, 2]) == {"rho": 0.5, "ci_low": None, "ci_high": None, "n": 3}
    assert stats.spearman_interval([1, 2], [1, 2]) == {"rho": None, "ci_low": None, "ci_high": None, "n": 2}
    perfect = stats.spearman_interval([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert perfect["rho"] == pytest.approx(1.0) and perfect["ci_low"] is None and perfect["ci_high"] is None


def test_mean_of_independent_estimates_adds_their_variances():
    average = stats.mean_of_independent([{"mean": 0.2, "se": 0.03}, {"mean": 0.4, "se": 0.04}])
    assert average["mean"] == pytest.approx(0.3) and average["se"] == pytest.approx(0.025)
    assert (average["ci_low"], average["ci_high"]) == pytest.approx((0.3 - 1.96 * 0.025, 0.3 + 1.96 * 0.025))
