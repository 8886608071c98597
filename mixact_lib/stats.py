"""The statistics behind every verdict: paired differences, intervals, and the four verdict words.

All distributions come from scipy. Conventions:

- a *paired difference* is challenger − baseline per seed (runs that share a seed share their data
  order and initialisation, so the difference removes that shared noise);
- a *prediction interval* for one new run is mean ± t_{n−1, 1−α/2} · √(sd²·(1 + 1/n) + se²), where se
  is the binomial standard error √(p(1 − p)/N) of an accuracy on N test images (0 for other numbers);
- a paper's value *replicates* when it lies inside that interval **and** the interval is narrower than
  the effect the paper builds on; it *does not replicate* when it lies outside; otherwise the data are
  *inconclusive*, and :func:`seeds_needed` says how many seeds would make the interval narrow enough.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as st

VERDICTS = ("replicates", "does not replicate", "inconclusive", "cannot be tested here")


def _pair(challenger: Sequence[float], baseline: Sequence[float]) -> np.ndarray:
    a, b = np.asarray(challenger, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values need two 1-D sequences of the same length, got {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {len(a)}")
    return a - b


def paired_difference(challenger: Sequence[float], baseline: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean of challenger − baseline with its t interval and two-sided paired t-test p-value.

    CI = d̄ ± t_{n−1, 1−α/2} · s_d/√n. ``wins`` counts pairs with d > 0 (a description, not a test).
    """
    d = _pair(challenger, baseline)
    n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
    half = float(st.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    p = float(st.ttest_rel(challenger, baseline).pvalue) if sd > 0 else (1.0 if mean == 0 else 0.0)
    return {"n": n, "mean_diff": mean, "sd_diff": sd, "ci_low": mean - half, "ci_high": mean + half,
            "p_value": p, "wins": int((d > 0).sum()), "test": "paired t"}


def sign_test(challenger: Sequence[float], baseline: Sequence[float]) -> float:
    """Exact two-sided sign test p-value on the non-zero paired differences (binomial, p = ½)."""
    d = _pair(challenger, baseline)
    nonzero = d[d != 0]
    if len(nonzero) == 0:
        return 1.0
    return float(st.binomtest(int((nonzero > 0).sum()), len(nonzero), 0.5).pvalue)


def wilcoxon_test(challenger: Sequence[float], baseline: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value (exact for small samples without ties, as scipy decides)."""
    d = _pair(challenger, baseline)
    if np.all(d == 0):
        return 1.0
    return float(st.wilcoxon(d).pvalue)


def bootstrap_ci(values: Sequence[float], statistic: Callable = np.mean, confidence: float = 0.95,
                 n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``values``, repeatable through ``seed``."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        raise ValueError(f"a bootstrap needs at least 2 values, got {len(values)}")
    result = st.bootstrap((values,), statistic, confidence_level=confidence, n_resamples=n_resamples,
                          method="percentile", rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def accuracy_standard_error(accuracy: float, n_test: int) -> float:
    """Binomial standard error √(p(1 − p)/N) of an accuracy measured on ``n_test`` examples."""
    if not 0 <= accuracy <= 1 or n_test < 1:
        raise ValueError(f"need 0 <= accuracy <= 1 and n_test >= 1, got {accuracy} and {n_test}")
    return math.sqrt(accuracy * (1 - accuracy) / n_test)


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict:
    """Exact McNemar test of two classifiers on the same test examples.

    Only the discordant examples count: n01 (a wrong, b right) and n10 (a right, b wrong); under
    equal accuracy n10 ~ Binomial(n01 + n10, ½). Returns both counts and the two-sided p-value.
    """
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"McNemar needs predictions on the same examples, got {a.shape} and {b.shape}")
    n10, n01 = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if n10 + n01 == 0 else float(st.binomtest(n10, n10 + n01, 0.5).pvalue)
    return {"a_only": n10, "b_only": n01, "p_value": p, "test": "McNemar (exact)"}


def prediction_interval(values: Sequence[float], confidence: float = 0.95,
                        n_test: int | None = None) -> tuple[float, float]:
    """Interval that holds one new run's value with probability ``confidence``.

    mean ± t_{n−1, 1−α/2} · √(sd²(1 + 1/n) + se²), se = :func:`accuracy_standard_error` of the mean
    when ``n_test`` is given (the number is an accuracy on that many test images), else 0.
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n < 2:
        raise ValueError(f"a prediction interval needs at least 2 runs, got {n}")
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    se = accuracy_standard_error(min(max(mean, 0.0), 1.0), n_test) if n_test else 0.0
    half = float(st.t.ppf(0.5 + confidence / 2, n - 1)) * math.sqrt(sd**2 * (1 + 1 / n) + se**2)
    return mean - half, mean + half


def seeds_needed(sd: float, effect: float, confidence: float = 0.95, n_test: int | None = None,
                 accuracy: float | None = None, most: int = 1000) -> int | None:
    """Fewest runs n for which the prediction interval's full width is below ``effect``.

    None when no number of seeds suffices (the test-set error alone is wider than the effect).
    """
    se = accuracy_standard_error(accuracy, n_test) if n_test and accuracy is not None else 0.0
    for n in range(2, most + 1):
        if 2 * st.t.ppf(0.5 + confidence / 2, n - 1) * math.sqrt(sd**2 * (1 + 1 / n) + se**2) < effect:
            return n
    return None


def value_verdict(paper_value: float, values: Sequence[float], effect: float, confidence: float = 0.95,
                  n_test: int | None = None, untestable_because: str = "no runs") -> dict:
    """The verdict on one paper number, in one of :data:`VERDICTS` (module docstring).

    ``effect`` is the size of the difference the paper builds on (e.g. the gap between two of its
    networks); an interval wider than that cannot tell the paper's value from its competitors'.
    No runs at all: "cannot be tested here", for the reason ``untestable_because``. One run: no
    interval can be formed, so "inconclusive".
    """
    if len(values) == 0:
        return {"verdict": "cannot be tested here", "interval_low": None, "interval_high": None,
                "rule": untestable_because, "seeds_needed": None}
    if len(values) == 1:
        return {"verdict": "inconclusive", "interval_low": None, "interval_high": None,
                "rule": "one run: no interval; at least 2 are needed", "seeds_needed": None}
    low, high = prediction_interval(values, confidence, n_test)
    width = high - low
    rule = (f"{confidence:.0%} prediction interval for one new run (t, n = {len(values)}"
            + (f", test-set error on {n_test:,} images" if n_test else "") + f"); effect {effect:.3g}")
    if not low <= paper_value <= high:
        verdict, needed = "does not replicate", None
    elif width < effect:
        verdict, needed = "replicates", None
    else:
        verdict = "inconclusive"
        needed = seeds_needed(float(np.std(values, ddof=1)), effect, confidence, n_test, float(np.mean(values)))
    return {"verdict": verdict, "interval_low": low, "interval_high": high, "rule": rule, "seeds_needed": needed}


def claim_verdict(ci_low: float, ci_high: float, direction: str = ">") -> str:
    """An ordering claim "challenger > baseline" (``>``) or "≥" from the CI of the paired difference.

    Replicates only when the interval excludes 0 in the claimed direction; does not replicate when it
    excludes 0 in the other; inconclusive when it contains 0.
    """
    if direction not in (">", ">="):
        raise ValueError(f"direction must be '>' or '>=', got {direction!r}")
    if ci_low > 0:
        return "replicates"
    if ci_high < 0:
        return "does not replicate"
    return "inconclusive"
