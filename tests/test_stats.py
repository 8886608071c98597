"""mixact_lib.analysis.stats against hand-worked cases and scipy's own tests."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from mixact_lib.analysis import stats

T2 = 4.302652729911275  # t_{2, 0.975}
T4 = 2.7764451051977987  # t_{4, 0.975}


def test_paired_difference_by_hand():
    r = stats.paired_difference([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])  # d = 1, 2, 3: mean 2, sd 1
    assert r["mean_diff"] == pytest.approx(2.0) and r["sd_diff"] == pytest.approx(1.0)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((2 - T2 / math.sqrt(3), 2 + T2 / math.sqrt(3)))
    t = 2 / (1 / math.sqrt(3))
    assert r["p_value"] == pytest.approx(2 * st.t.sf(t, 2)) and r["wins"] == 3


def test_paired_difference_refuses_unpaired_input():
    with pytest.raises(ValueError, match="same length"):
        stats.paired_difference([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        stats.paired_difference([1], [0])


def test_sign_and_wilcoxon_exact_small_cases():
    assert stats.sign_test([1, 2, 3], [0, 0, 0]) == pytest.approx(0.25)  # 2 · (1/2)^3
    assert stats.sign_test([1, 0, 3], [0, 0, 0]) == pytest.approx(0.5)  # the tie is dropped: 2 · (1/2)^2
    assert stats.wilcoxon_test([1, 2, 3.5, 4, 5], [0] * 5) == pytest.approx(2 / 32)  # all 5 ranks positive


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = [0.91, 0.92, 0.915, 0.925, 0.918]
    low, high = stats.bootstrap_ci(values, seed=3)
    assert (low, high) == stats.bootstrap_ci(values, seed=3)
    assert low < np.mean(values) < high and min(values) <= low and high <= max(values)


def test_accuracy_standard_error_and_mcnemar():
    assert stats.accuracy_standard_error(0.9, 10_000) == pytest.approx(0.003)
    r = stats.mcnemar([True] * 8 + [False] * 2, [False] * 8 + [False] * 2)  # 8 discordant, all one way
    assert (r["a_only"], r["b_only"]) == (8, 0) and r["p_value"] == pytest.approx(2 / 256)
    assert stats.mcnemar([True, False], [True, False])["p_value"] == 1.0


def test_prediction_interval_by_hand():
    low, high = stats.prediction_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, n 3
    half = T2 * math.sqrt(1 + 1 / 3)
    assert (low, high) == pytest.approx((2 - half, 2 + half))
    # about 3.04 sd at 5 seeds, as the reproduction chapter says
    values = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    low, high = stats.prediction_interval(values)
    assert (high - low) / 2 / values.std(ddof=1) == pytest.approx(T4 * math.sqrt(1.2))
    wider = stats.prediction_interval([0.90, 0.91, 0.92], n_test=10_000)
    assert wider[1] - wider[0] > np.subtract(*stats.prediction_interval([0.90, 0.91, 0.92])[::-1])


@pytest.mark.parametrize("paper, values, effect, verdict", [
    (0.921, [0.9208, 0.9212, 0.9210, 0.9209, 0.9211], 0.01, "replicates"),
    (0.950, [0.9208, 0.9212, 0.9210, 0.9209, 0.9211], 0.01, "does not replicate"),
    (0.921, [0.90, 0.94, 0.92], 0.003, "inconclusive"),
    (0.921, [], 0.003, "cannot be tested here"),
])
def test_each_verdict_word(paper, values, effect, verdict):
    r = stats.value_verdict(paper, values, effect, untestable_because="CIFAR-10 is not on this machine")
    assert r["verdict"] == verdict
    if verdict == "inconclusive":
        assert r["seeds_needed"] is None or r["seeds_needed"] > len(values)


def test_seeds_needed_shrinks_with_the_spread_and_gives_up_on_test_noise():
    assert stats.seeds_needed(0.001, 0.01) < stats.seeds_needed(0.002, 0.01)
    n = stats.seeds_needed(0.001, 0.01)
    assert 2 * st.t.ppf(0.975, n - 1) * 0.001 * math.sqrt(1 + 1 / n) < 0.01
    assert 2 * st.t.ppf(0.975, n - 2) * 0.001 * math.sqrt(1 + 1 / (n - 1)) >= 0.01
    assert stats.seeds_needed(0.0005, 0.003, n_test=10_000, accuracy=0.92) is None  # test-set error alone is wider


def test_claim_verdicts():
    assert stats.claim_verdict(0.001, 0.004) == "replicates"
    assert stats.claim_verdict(-0.004, -0.001) == "does not replicate"
    assert stats.claim_verdict(-0.0006, 0.0036) == "inconclusive"


def test_one_run_floor_is_the_limit_of_the_prediction_interval():
    values = np.array([0.0, 1.0, 2.0, 3.0, 4.0]) * 0.001
    sd = values.std(ddof=1)
    assert stats.one_run_floor(sd) == pytest.approx(2 * 1.959964 * sd, rel=1e-6)
    many = np.tile(values, 2000)  # 10,000 runs with the same sd: the interval has shrunk to its floor
    low, high = stats.prediction_interval(many)
    assert high - low == pytest.approx(stats.one_run_floor(many.std(ddof=1)), rel=1e-3)
    assert stats.one_run_floor(0.001, se=0.002) > stats.one_run_floor(0.001)
