"""The statistics behind every verdict: paired differences, intervals, corrections and the verdict words.

Distributions come from scipy; multiple-testing corrections, TOST and power from statsmodels, which this
module wraps thinly so that the book calls one place. Conventions:

- a *paired difference* is challenger − baseline per seed (runs that share a seed share their data
  order and initialisation; whether that shared noise is large is an empirical question, and for paper C
  it is small: the per-seed correlation of AdAct and ReLU is about 0);
- a *prediction interval* for one new run is mean ± t_{n−1, 1−α/2} · √(sd²·(1 + 1/n) + se²), where se
  is the binomial standard error √(p(1 − p)/N) of an accuracy on N test images — added only when the
  paper's run and ours were scored on *different* test images. Paper C and we score the same 10,000
  Fashion-MNIST test images, so their test-set sampling error is shared and se = 0 there;
- a paper's value *replicates* when it lies inside that interval **and** the interval is narrower than
  the effect the paper builds on; it *does not replicate* when it lies outside; otherwise the data are
  *inconclusive*, and :func:`seeds_needed` says how many seeds would make the interval narrow enough;
- an ordering *claim* is one hypothesis of a family fixed in advance (``results/analysis_plan.yaml``):
  its p-value is corrected within the family (:func:`adjust`: Holm or Benjamini–Hochberg), and
  :func:`claim_test` / :func:`planned_verdict` judge superiority, non-inferiority (a margin) and
  equivalence (TOST) claims on the corrected p.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

VERDICTS = ("replicates", "does not replicate", "inconclusive", "cannot be tested here")
#: a planned claim whose seeds are not all in yet: reported with its interval, judged at the planned n only
PENDING = "pending"
#: the corrections a family may use (analysis plan's ``adjustment``) → statsmodels' method names
ADJUSTMENTS = {"holm": "holm", "bh": "fdr_bh", "none": None}
#: the kinds of planned claim (analysis plan's ``kind``)
CLAIM_KINDS = ("superiority", "non_inferiority", "equivalence", "one_sample")


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


def one_run_floor(sd: float, confidence: float = 0.95, se: float = 0.0) -> float:
    """The narrowest a prediction interval for one new run can get, with infinitely many seeds: 2·z·√(sd² + se²).

    One new run keeps its own spread (the seed-to-seed sd, plus the test-set error se where its test images are
    not the paper's) however many seeds the mean is taken over.
    """
    return 2 * float(st.norm.ppf(0.5 + confidence / 2)) * math.sqrt(sd**2 + se**2)


def seeds_needed(sd: float, effect: float, confidence: float = 0.95, n_test: int | None = None,
                 accuracy: float | None = None, most: int = 1000) -> int | None:
    """Fewest runs n for which the prediction interval's full width is below ``effect``.

    The width falls towards 2·t·√(sd² + se²) as n grows: one new run's own spread (the seed-to-seed sd,
    plus the test-set error se when the paper's test images are not ours) never averages away. None when
    that limit is already wider than the effect, so that no number of seeds suffices.
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


def adjust(p_values: Sequence[float], method: str) -> np.ndarray:
    """p-values corrected for the number of tests in their family (statsmodels' ``multipletests``).

    ``method``: ``holm`` (Holm's step-down, controls the family-wise error), ``bh`` (Benjamini–Hochberg,
    controls the false-discovery rate) or ``none``. NaN p-values (untested) are left out and stay NaN.
    """
    if method not in ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {method!r}; choose one of {', '.join(ADJUSTMENTS)}")
    p = np.asarray(p_values, dtype=float)
    out = p.copy()
    ok = ~np.isnan(p)
    if ADJUSTMENTS[method] is not None and ok.any():
        out[ok] = multipletests(p[ok], method=ADJUSTMENTS[method])[1]
    return out


def claim_test(challenger: Sequence[float], baseline: Sequence[float], kind: str = "superiority",
               margin: float = 0.0, direction: str = ">", confidence: float = 0.95) -> dict:
    """One planned claim on paired values: the difference, its intervals and the p-value of its kind.

    d = challenger − baseline per pair (for ``one_sample``, baseline is the null value repeated).

    - ``superiority`` / ``one_sample``: two-sided paired t, H0: E[d] = 0; ``direction`` ">" or "<" is the
      sign the claim expects;
    - ``non_inferiority``: H0: E[d] ≤ −margin against E[d] > −margin, one-sided t (statsmodels'
      ``DescrStatsW.ttest_mean``);
    - ``equivalence``: TOST, H0: |E[d]| ≥ margin (statsmodels' ``ttost_paired``); p is the larger of the two
      one-sided p-values.

    Returns n, mean_diff, sd_diff, the two-sided ``confidence`` interval (ci_low, ci_high), the bounds of the
    1 − 2α interval (bound_low, bound_high: each a one-sided (1 − α) bound, so a difference beyond them is
    ruled out at level α), p_value, wins (pairs with d in the claimed direction) and ``test`` in words.
    """
    if kind not in CLAIM_KINDS:
        raise ValueError(f"unknown claim kind {kind!r}; choose one of {', '.join(CLAIM_KINDS)}")
    if direction not in (">", "<"):
        raise ValueError(f"direction must be '>' or '<', got {direction!r}")
    if kind in ("non_inferiority", "equivalence") and not margin > 0:
        raise ValueError(f"a {kind} claim needs a margin > 0, got {margin!r}")
    d = _pair(challenger, baseline)
    n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
    alpha = 1 - confidence
    described = DescrStatsW(d)
    ci_low, ci_high = (float(v) for v in described.tconfint_mean(alpha)) if sd > 0 else (mean, mean)
    bound_low, bound_high = (float(v) for v in described.tconfint_mean(2 * alpha)) if sd > 0 else (mean, mean)
    if kind == "non_inferiority":
        p = (float(described.ttest_mean(-margin, alternative="larger")[1]) if sd > 0
             else float(mean <= -margin))
        test = f"one-sided paired t against −{margin:g} (non-inferiority)"
    elif kind == "equivalence":
        p = (float(ttost_paired(np.asarray(challenger, float), np.asarray(baseline, float), -margin, margin)[0])
             if sd > 0 else float(abs(mean) >= margin))
        test = f"TOST, paired, bounds ±{margin:g} (equivalence)"
    else:
        p = float(st.ttest_1samp(d, 0.0).pvalue) if sd > 0 else (1.0 if mean == 0 else 0.0)
        test = "two-sided one-sample t" if kind == "one_sample" else "two-sided paired t"
    sign = 1 if direction == ">" else -1
    return {"n": n, "mean_diff": mean, "sd_diff": sd, "ci_low": ci_low, "ci_high": ci_high,
            "bound_low": bound_low, "bound_high": bound_high, "p_value": p,
            "wins": int((sign * d > 0).sum()), "test": test}


def planned_verdict(kind: str, p_adjusted: float, mean_diff: float, ci_low: float, ci_high: float,
                    bound_high: float, margin: float = 0.0, direction: str = ">", alpha: float = 0.05) -> str:
    """The verdict on one planned claim from its *corrected* p-value (the rules of the analysis plan).

    - superiority / one_sample: replicates when p_adjusted < α with the claimed sign; does not replicate
      when p_adjusted < α with the other sign; else inconclusive;
    - non_inferiority: replicates when p_adjusted < α; does not replicate when the upper one-sided bound
      lies below −margin (inferiority shown); else inconclusive;
    - equivalence: replicates when p_adjusted < α; does not replicate when the two-sided interval lies
      wholly outside ±margin; else inconclusive.
    """
    significant = bool(p_adjusted < alpha)
    if kind in ("superiority", "one_sample"):
        if not significant:
            return "inconclusive"
        agrees = mean_diff > 0 if direction == ">" else mean_diff < 0
        return "replicates" if agrees else "does not replicate"
    if kind == "non_inferiority":
        if significant:
            return "replicates"
        return "does not replicate" if bound_high < -margin else "inconclusive"
    if kind == "equivalence":
        if significant:
            return "replicates"
        return "does not replicate" if ci_low > margin or ci_high < -margin else "inconclusive"
    raise ValueError(f"unknown claim kind {kind!r}; choose one of {', '.join(CLAIM_KINDS)}")


def seeds_for_power(sd: float, effect: float | None, kind: str = "superiority", alpha: float = 0.05,
                    power: float = 0.8, most: int = 10_000) -> int | None:
    """Paired seeds a claim would need for ``power`` at ``effect`` (statsmodels' ``TTestPower``).

    superiority / one_sample: two-sided t at level α, true difference ``effect``. non_inferiority: one-sided
    at α, true difference 0, margin ``effect``. equivalence: TOST with true difference 0 and bounds
    ±``effect``, approximated as two one-sided tests each at power (1 + power)/2. None when the effect is
    unknown or 0, or when more than ``most`` seeds would be needed; uncorrected α (a family's correction
    asks for more).
    """
    if effect is None or not np.isfinite(effect) or effect == 0 or not sd > 0:
        return None
    size = abs(effect) / sd
    if kind in ("superiority", "one_sample"):
        alternative, target = "two-sided", power
    elif kind in ("non_inferiority", "equivalence"):
        alternative, target = "larger", power if kind == "non_inferiority" else (1 + power) / 2
    else:
        raise ValueError(f"unknown claim kind {kind!r}; choose one of {', '.join(CLAIM_KINDS)}")

    def enough(n: int) -> bool:
        power_n = float(TTestPower().power(effect_size=size, nobs=n, alpha=alpha, alternative=alternative))
        if np.isnan(power_n):  # statsmodels' noncentral t underflows for huge effects: the same sum, by scipy
            tails = 2 if alternative == "two-sided" else 1
            crit = st.t.ppf(1 - alpha / tails, n - 1)
            lower = float(st.nct.cdf(-crit, n - 1, size * math.sqrt(n))) if tails == 2 else 0.0
            power_n = float(st.nct.sf(crit, n - 1, size * math.sqrt(n))) + np.nan_to_num(lower)
        return power_n >= target

    # power grows with n: double until it suffices, then halve the gap (statsmodels' root finder fails
    # for very large effects, where 2 seeds already suffice)
    if enough(2):
        return 2
    low, high = 2, 4
    while not enough(high):
        if high >= most:
            return None
        low, high = high, min(2 * high, most)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high
