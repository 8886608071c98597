"""Many methods over the same seeds: the Friedman test, Nemenyi's critical difference, Holm-corrected pairs.

The comparison chapter trains k activations on the same N seeds. Counting uncorrected paired t-tests against
ReLU (and saying how many would pass by chance) is not a test of anything. The field's convention for this
design (Demšar 2006, *Statistical comparisons of classifiers over multiple data sets*, JMLR 7) is used instead:

- **Friedman test**: rank the k methods within each seed (1 = best; ties get their mean rank); under "all
  methods are equal" every method's average rank R̄_j is (k + 1)/2, and
  χ²_F = 12N / (k(k + 1)) · (Σ_j R̄_j² − k(k + 1)²/4) is χ² with k − 1 degrees of freedom (scipy's
  ``friedmanchisquare``, which also corrects for ties);
- **Nemenyi's critical difference**: two methods differ at level α when their average ranks differ by more than
  CD = q_α · √(k(k + 1) / (6N)), q_α the studentized range quantile for k groups and infinite degrees of freedom,
  divided by √2 (scipy's ``studentized_range``);
- **pairs against one baseline**: paired t per method, Holm-corrected over the k − 1 comparisons
  (:func:`mixact_lib.analysis.stats.adjust`), the more powerful choice when only comparisons with a control matter.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st

from . import stats
from .results import paired_differences


def _complete_blocks(table: pd.DataFrame, metric: str, block: str, treatment: str) -> pd.DataFrame:
    """Block × treatment values of ``metric``, only the blocks where every treatment ran."""
    wide = table.pivot_table(index=block, columns=treatment, values=metric).dropna()
    if wide.shape[0] < 2 or wide.shape[1] < 3:
        raise ValueError(f"a Friedman test needs at least 2 complete {block}s and 3 {treatment}s; got "
                         f"{wide.shape[0]} complete {block}s of {wide.shape[1]} {treatment}s (every {treatment} must "
                         f"have run in a {block} for it to count)")
    return wide


def average_ranks(table: pd.DataFrame, metric: str, block: str = "seed", treatment: str = "activation",
                  higher_is_better: bool = True) -> pd.DataFrame:
    """Block × treatment ranks (1 = best within each block, ties averaged), only blocks where every treatment ran."""
    return _complete_blocks(table, metric, block, treatment).rank(axis=1, ascending=not higher_is_better)


def critical_difference(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of average ranks for k methods over ``n_blocks`` blocks (Demšar 2006)."""
    q = float(st.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q * math.sqrt(k * (k + 1) / (6 * n_blocks))


def friedman(table: pd.DataFrame, metric: str, block: str = "seed", treatment: str = "activation",
             alpha: float = 0.05, higher_is_better: bool = True) -> dict:
    """Friedman's test over blocks, the average ranks and Nemenyi's critical difference.

    Returns ``statistic`` and ``p_value`` (scipy), ``k``, ``n_blocks``, ``ranks`` (average rank per treatment,
    best first), ``cd`` and ``groups``: the maximal sets of treatments whose average ranks lie within ``cd`` of
    each other (the bars of a critical-difference diagram).
    """
    wide = _complete_blocks(table, metric, block, treatment)
    ranks = wide.rank(axis=1, ascending=not higher_is_better)
    statistic, p = st.friedmanchisquare(*(wide[c].to_numpy(float) for c in wide.columns))
    mean_ranks = ranks.mean().sort_values()
    cd = critical_difference(len(mean_ranks), len(ranks), alpha)
    values, names = mean_ranks.to_numpy(), list(mean_ranks.index)
    groups, last_end = [], -1
    for i in range(len(values)):  # each maximal run of consecutive treatments spanning less than cd
        j = i
        while j + 1 < len(values) and values[j + 1] - values[i] <= cd:
            j += 1
        if j > i and j > last_end:
            groups.append(names[i:j + 1])
            last_end = j
    return {"statistic": float(statistic), "p_value": float(p), "k": len(mean_ranks), "n_blocks": len(ranks),
            "ranks": mean_ranks, "cd": cd, "groups": groups, "alpha": alpha}


def versus_baseline(table: pd.DataFrame, baseline: str, metric: str, adjustment: str = "holm",
                    alpha: float = 0.05, treatment: str = "activation") -> pd.DataFrame:
    """Every treatment − ``baseline``, paired by seed, with its p corrected over all of them.

    Columns of :func:`mixact_lib.paired_differences` plus ``p_adjusted`` and ``verdict``: ``better`` / ``worse``
    when the corrected p is below ``alpha`` (by the sign of the mean difference), else ``inconclusive``.
    """
    others = [a for a in dict.fromkeys(table[treatment]) if a != baseline]
    frame = paired_differences(table, [(baseline, a) for a in others], metric=metric, by=[])
    return corrected_verdicts(frame, adjustment, alpha)


def corrected_verdicts(frame: pd.DataFrame, adjustment: str = "holm", alpha: float = 0.05,
                       higher_is_better: bool = True) -> pd.DataFrame:
    """Rows of :func:`mixact_lib.paired_differences`, taken as one family: ``p_adjusted`` (its p corrected over
    all rows) and ``verdict``: ``better`` / ``worse`` (challenger − baseline's sign: above 0 is better, or below 0
    when ``higher_is_better`` is False, e.g. a loss area) when the corrected p is below ``alpha``, else
    ``inconclusive``."""
    if frame.empty:
        return frame.assign(p_adjusted=pd.Series(dtype=float), verdict=pd.Series(dtype=str))
    frame = frame.assign(p_adjusted=stats.adjust(frame.p_value, adjustment))
    frame["verdict"] = ["inconclusive" if not p < alpha else ("better" if (d > 0) == higher_is_better else "worse")
                        for p, d in zip(frame.p_adjusted, frame.diff_mean)]
    return frame
