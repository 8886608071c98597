"""The book's tables and sentences of verdicts: shown short, rounded, with – for missing.

Formatting only; the verdicts themselves come from :mod:`mixact_lib.reproduction` and
:mod:`mixact_lib.stats`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as st

from . import stats

REPLICATES, DOES_NOT, INCONCLUSIVE, UNTESTABLE = stats.VERDICTS


def wins_by_chance(wins: int, n: int) -> float:
    """P(at least ``wins`` of ``n`` seeds favour one side) when neither side is better: Binomial(n, ½)."""
    return float(st.binom.sf(wins - 1, n, 0.5))


def _fmt(value, digits: int) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def value_view(rows: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """The reproduction table as the book shows it: paper, ours mean ± sd (n), interval, effect, verdict."""
    return pd.DataFrame({
        "dataset": rows.dataset, "network": rows.activation, "number": rows.metric.str.replace("_", " "),
        "paper": [_fmt(v, digits) for v in rows.paper_value],
        "ours: mean ± sd (n)": ["–" if not n else f"{_fmt(m, digits)} ± {_fmt(s, digits)} ({n})"
                                for m, s, n in zip(rows.ours_mean, rows.ours_std, rows.n_seeds)],
        "95 % prediction interval": ["–" if pd.isna(lo) else f"[{lo:.{digits}f}, {hi:.{digits}f}]"
                                     for lo, hi in zip(rows.interval_low, rows.interval_high)],
        "effect": [_fmt(v, digits) for v in rows.effect],
        "verdict": [v if pd.isna(k) else f"{v} ({k} seeds would do)"
                    for v, k in zip(rows.verdict, rows.seeds_needed)]})


def claims_view(claims: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """The claims table as the book shows it: mean difference, 95 % CI, p, wins, verdict."""
    return pd.DataFrame({
        "claim": claims.claim, "measured on": [m if " " in m else m.replace("_", " ") for m in claims.metric],
        "runs": claims.runs,
        "mean difference": [f"{v:+.{digits}f}" for v in claims.mean_diff],
        "95 % CI": [f"[{lo:+.{digits}f}, {hi:+.{digits}f}]" for lo, hi in zip(claims.ci_low, claims.ci_high)],
        "p": [f"{p:.3f}" for p in claims.p_value],
        "wins": [f"{w} of {n}" for w, n in zip(claims.wins, claims.n_seeds)], "verdict": claims.verdict})


def styled(frame: pd.DataFrame, digits: int = 4):
    """A table as every table of the reproduction chapter is shown: no index, ``digits`` decimals, – for missing."""
    return frame.style.hide(axis="index").format(na_rep="–", precision=digits)


def narrowest_width(accuracy: float, n_test: int, confidence: float = 0.95) -> float:
    """Width of one run's prediction interval with infinitely many seeds and no spread: 2·z·√(p(1 − p)/N)."""
    return 2 * float(st.norm.ppf(0.5 + confidence / 2)) * stats.accuracy_standard_error(accuracy, n_test)


def verdict_sentence(rows: pd.DataFrame, digits: int = 4) -> str:
    """The value verdicts of ``rows`` in words: how many of each, and how far from deciding the others are."""
    counts = rows.verdict.value_counts()
    text = "; ".join(f"*{v}*: **{counts[v]}**" for v in stats.VERDICTS if v in counts) + "."
    missed = rows[rows.verdict == DOES_NOT]
    if len(missed):
        outside = np.maximum(missed.interval_low - missed.paper_value, missed.paper_value - missed.interval_high)
        text += (f" Where it does not replicate, the paper's value lies {outside.min():.{digits}f} to "
                 f"{outside.max():.{digits}f} outside our interval.")
    open_ = rows[rows.verdict == INCONCLUSIVE]
    if len(open_):
        width = open_.interval_high - open_.interval_low
        never = int(open_.seeds_needed.isna().sum())
        text += (f" Where it is inconclusive, the paper's value lies inside intervals {width.min():.{digits}f} to "
                 f"{width.max():.{digits}f} wide, against effects of {open_.effect.min():.{digits}f} to "
                 f"{open_.effect.max():.{digits}f}; ")
        text += ("no number of seeds would settle any of them" if never == len(open_) else
                 f"more seeds would settle {len(open_) - never} of them (at most "
                 f"{int(open_.seeds_needed.max())} seeds) and no number of seeds the other {never}")
        text += "."
    return text


def claims_summary(claims: pd.DataFrame, digits: int = 4) -> str:
    """The claims in words: which replicate, which do not (with difference, CI and p), how many are open."""
    def named(rows):
        return "; ".join(f"{r.claim}, {r.metric if ' ' in r.metric else r.metric.replace('_', ' ')} "
                         f"({r.mean_diff:+.{digits}f}, 95 % CI [{r.ci_low:+.{digits}f}, {r.ci_high:+.{digits}f}], "
                         f"p = {r.p_value:.3f})" for r in rows.itertuples())
    text = f"Of these {len(claims)} checks,"
    for verdict, one, many in ((REPLICATES, "replicates", "replicate"), (DOES_NOT, "does not replicate",
                                                                         "do not replicate")):
        rows = claims[claims.verdict == verdict]
        text += f" **{len(rows)} {one if len(rows) == 1 else many}**" + (f": {named(rows)}." if len(rows) else ".")
    open_ = int((claims.verdict == INCONCLUSIVE).sum())
    return text + f" **{open_} {'is' if open_ == 1 else 'are'} inconclusive**: the interval contains 0."


def mean_sd_view(table: pd.DataFrame, by: list[str] | str, values: list[str], digits: int = 4) -> pd.DataFrame:
    """Mean ± sd (n) over seeds of each of ``values`` within each ``by`` group, as text: the book's compact summary."""
    by = [by] if isinstance(by, str) else list(by)
    out = table.groupby(by, sort=False)[values].agg(
        lambda v: f"{_fmt(v.mean(), digits)} ± {_fmt(v.std(), digits)} ({v.count()})").reset_index()
    return out.rename(columns={v: v.replace("_", " ") for v in values})


def p_text(p: float) -> str:
    """A p-value as the book writes it: three decimals, or "p < 0.001"."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


BETTER, WORSE, OPEN, TOO_FEW = "better", "worse", "inconclusive", "too few seeds"


def difference_verdict(ci_low: float, ci_high: float, higher_is_better: bool = True) -> str:
    """One paired comparison in one word, from its 95 % CI of challenger − baseline.

    ``better`` when the interval excludes 0 on the challenger's good side (above 0, or below 0 when
    ``higher_is_better`` is False, e.g. a loss area), ``worse`` when it excludes 0 on the other side,
    ``inconclusive`` when it contains 0, ``too few seeds`` when there is no interval (one seed).
    """
    if pd.isna(ci_low) or pd.isna(ci_high):
        return TOO_FEW
    low, high = (ci_low, ci_high) if higher_is_better else (-ci_high, -ci_low)
    # the same rule as an ordering claim "challenger is better", in this table's words
    return {REPLICATES: BETTER, DOES_NOT: WORSE, INCONCLUSIVE: OPEN}[stats.claim_verdict(low, high, ">")]


def difference_phrase(row, digits: int = 4, higher_is_better: bool = True, better: str = "better") -> str:
    """A row of ``mx.paired_differences`` in words: mean difference, 95 % CI, p, seeds, verdict."""
    verdict = difference_verdict(row.ci_low, row.ci_high, higher_is_better)
    interval = ("no interval with one seed" if verdict == TOO_FEW else
                f"95 % CI [{row.ci_low:+.{digits}f}, {row.ci_high:+.{digits}f}], {p_text(row.p_value)}")
    return (f"{row.diff_mean:+.{digits}f} ({interval}; {better} in {row.wins} of {row.n_seeds} seeds): "
            f"**{verdict}**")


def difference_counts(verdicts, what: str = "comparisons") -> str:
    """How many paired comparisons came out better, worse, inconclusive, and the false positives to expect."""
    verdicts = list(verdicts)
    counts = {v: verdicts.count(v) for v in (BETTER, WORSE, OPEN, TOO_FEW)}
    tested = len(verdicts) - counts[TOO_FEW]
    text = (f"of {len(verdicts)} {what}, **{counts[BETTER]} better, {counts[WORSE]} worse and {counts[OPEN]} "
            f"inconclusive** (paired by seed, 95 % t intervals)")
    if counts[TOO_FEW]:
        text += f"; {counts[TOO_FEW]} {'has' if counts[TOO_FEW] == 1 else 'have'} one seed and no interval"
    if tested:
        text += (f". At 95 % each, about {0.05 * tested:.1f} of {tested} would exclude 0 by chance alone, so one such "
                 "result is weak evidence")
    return text
