"""Friedman, Nemenyi's critical difference and Holm-corrected pairs, against hand-worked cases and Demšar's table."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from mixact_lib.report import plots
from mixact_lib.analysis import rank_tests, stats


def _table(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"activation": a, "seed": s, "final_test_acc": v}
                         for a, vs in values.items() for s, v in enumerate(vs)])


def test_critical_difference_matches_demsars_table():
    # Demšar (2006) Table 5(a), two-tailed Nemenyi at α = 0.05: q = 2.569 for k = 4, 3.164 for k = 10
    assert rank_tests.critical_difference(4, 10) == pytest.approx(2.569 * math.sqrt(4 * 5 / 60), abs=2e-3)
    assert rank_tests.critical_difference(10, 20) == pytest.approx(3.164 * math.sqrt(10 * 11 / 120), abs=2e-3)


def test_friedman_by_hand_and_the_groups_it_cannot_tell_apart():
    # 4 seeds: a always first, b second, c third → ranks 1, 2, 3; χ²_F = 12·4/(3·4)·(1 + 4 + 9 − 3·16/4) = 8
    values = {"a": [0.95, 0.96, 0.94, 0.97], "b": [0.90, 0.91, 0.92, 0.93], "c": [0.80, 0.81, 0.82, 0.83]}
    result = rank_tests.friedman(_table(values), "final_test_acc")
    assert list(result["ranks"].index) == ["a", "b", "c"] and list(result["ranks"]) == [1.0, 2.0, 3.0]
    assert result["statistic"] == pytest.approx(8.0) and result["p_value"] == pytest.approx(st.chi2.sf(8.0, 2))
    cd = rank_tests.critical_difference(3, 4)  # ≈ 1.66: a and c (2 apart) differ, neighbours do not
    assert result["cd"] == pytest.approx(cd) and 1 < cd < 2
    assert result["groups"] == [["a", "b"], ["b", "c"]]
    fig = plots.plot_cd_diagram(result)
    assert len(fig.axes) == 1


def test_friedman_refuses_too_little_data_with_what_is_needed():
    with pytest.raises(ValueError, match="at least 2 complete seeds and 3 activations"):
        rank_tests.friedman(_table({"a": [0.9, 0.91], "b": [0.8, 0.81]}), "final_test_acc")


def test_pairs_against_a_baseline_are_holm_corrected():
    rng = np.random.default_rng(0)
    relu = 0.85 + rng.normal(0, 0.002, 5)
    values = {"relu": relu, "big": relu + 0.01 + rng.normal(0, 0.001, 5), "none": relu + rng.normal(0, 0.002, 5),
              "small": relu + 0.0015 + rng.normal(0, 0.001, 5)}
    frame = rank_tests.versus_baseline(_table(values), "relu", "final_test_acc").set_index("challenger")
    assert frame.p_adjusted.to_numpy() == pytest.approx(stats.adjust(frame.p_value, "holm"))
    assert frame.loc["big", "verdict"] == "better" and frame.loc["none", "verdict"] == "inconclusive"
    assert (frame.p_adjusted >= frame.p_value).all()


def test_corrected_verdicts_read_a_smaller_is_better_metric_the_other_way():
    frame = pd.DataFrame({"diff_mean": [-2.0, 2.0, -0.1], "p_value": [0.001, 0.001, 0.6]})
    higher = rank_tests.corrected_verdicts(frame, "holm")
    lower = rank_tests.corrected_verdicts(frame, "holm", higher_is_better=False)
    assert higher.verdict.tolist() == ["worse", "better", "inconclusive"]
    assert lower.verdict.tolist() == ["better", "worse", "inconclusive"]  # a smaller area is better
    assert lower.p_adjusted.tolist() == pytest.approx([0.003, 0.003, 0.6])  # Holm: 3 × 0.001, kept monotone
