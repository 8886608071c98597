"""The book's tables and sentences of verdicts: shown short, rounded, with – for missing.

Formatting only (the chapters show these frames with :func:`mixact_lib.show_table`); the verdicts
themselves come from :mod:`mixact_lib.analysis.reproduction` and :mod:`mixact_lib.analysis.stats`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as st

from ..analysis import stats
from .tables import decimals_for, mean_sd

REPLICATES, DOES_NOT, INCONCLUSIVE, UNTESTABLE = stats.VERDICTS


def wins_by_chance(wins: int, n: int) -> float:
    """P(at least ``wins`` of ``n`` seeds favour one side) when neither side is better: Binomial(n, ½)."""
    return float(st.binom.sf(wins - 1, n, 0.5))


def _fmt(value, digits: int) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def value_view(rows: pd.DataFrame, digits: int | None = 4) -> pd.DataFrame:
    """The reproduction table as the book shows it: paper, ours mean ± sd (n), interval, effect, verdict.

    ``digits=None`` rounds each row's mean, sd and interval to its sd (:func:`mixact_lib.report.tables.mean_sd`)
    and the effect to two significant digits; an int gives every number that many decimals.
    """
    def ours(m, s, n):
        if not n:
            return "–"
        return mean_sd(m, s, n) if digits is None else f"{_fmt(m, digits)} ± {_fmt(s, digits)} ({n})"

    def interval(lo, hi, s):
        d = decimals_for(s) if digits is None else digits
        return "–" if pd.isna(lo) else f"[{lo:.{d}f}, {hi:.{d}f}]"

    return pd.DataFrame({
        "dataset": rows.dataset, "network": rows.activation, "number": rows.metric.str.replace("_", " "),
        "paper": [("–" if pd.isna(v) else f"{v:g}") if digits is None else _fmt(v, digits) for v in rows.paper_value],
        "ours: mean ± sd (n)": [ours(m, s, n) for m, s, n in zip(rows.ours_mean, rows.ours_std, rows.n_seeds)],
        "95 % prediction interval": [interval(lo, hi, s) for lo, hi, s in
                                     zip(rows.interval_low, rows.interval_high, rows.ours_std)],
        "effect": [("–" if pd.isna(v) else f"{v:.2g}") if digits is None else _fmt(v, digits) for v in rows.effect],
        "verdict": [v if pd.isna(k) else f"{v} ({k} seeds would do)"
                    for v, k in zip(rows.verdict, rows.seeds_needed)]})


def _span(values: pd.Series, digits: int) -> str:
    """``lo to hi`` (or one value when they agree at ``digits``): a range in a table cell."""
    lo, hi = f"{values.min():.{digits}f}", f"{values.max():.{digits}f}"
    return lo if lo == hi else f"{lo} to {hi}"


def verdict_summary(rows: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """The value verdicts of ``rows`` as a short table: one row per verdict, and how far from deciding it is.

    Columns: verdict, numbers, how far the paper lies outside our interval (does not replicate), our
    intervals' widths, the effects they are judged against, and what more seeds would do
    (inconclusive). The same data as :func:`verdict_sentence`, for a reader who scans.
    """
    out = []
    for verdict in stats.VERDICTS:
        part = rows[rows.verdict == verdict]
        if not len(part):
            continue
        outside = np.maximum(part.interval_low - part.paper_value, part.paper_value - part.interval_high)
        width = part.interval_high - part.interval_low
        row = {"verdict": verdict, "numbers": len(part),
               "paper outside by": _span(outside, digits) if verdict == DOES_NOT else "–",
               "interval width": _span(width, digits) if width.notna().any() else "–",
               "effect": _span(part.effect, digits) if part.effect.notna().any() else "–", "more seeds": "–"}
        if verdict == INCONCLUSIVE:
            never = int(part.seeds_needed.isna().sum())
            settle = len(part) - never
            row["more seeds"] = ("would settle none" if not settle else
                                 f"{int(part.seeds_needed.max())} would settle {settle}"
                                 + (f", none the other {never}" if never else ""))
        out.append(row)
    return pd.DataFrame(out)


def untestable_view(rows: pd.DataFrame) -> pd.DataFrame:
    """The numbers that cannot be tested here, one row per dataset: how many, and why."""
    def reason(notes) -> str:
        return "; ".join(sorted({n.split(": ", 1)[-1].split(" ", 1)[-1] if n.startswith("data unavailable")
                                 else n for n in notes}))
    return rows.groupby("dataset", sort=False).agg(numbers=("metric", "size"), why=("note", reason)).reset_index()


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


def counts_phrase(replicates: int, does_not: int, inconclusive: int, pending: int = 0) -> str:
    """Verdict counts in words, each verb agreeing with its count: "2 replicate, 1 does not and 0 are inconclusive"
    (and, when ``pending`` is not 0, "…, 0 are inconclusive and 3 are pending (seeds still running)")."""
    parts = [f"{replicates} {'replicates' if replicates == 1 else 'replicate'}",
             f"{does_not} {'does' if does_not == 1 else 'do'} not",
             f"{inconclusive} {'is' if inconclusive == 1 else 'are'} inconclusive"]
    if pending:
        parts.append(f"{pending} {'is' if pending == 1 else 'are'} pending (seeds still running)")
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def p_text(p: float) -> str:
    """A p-value as the book writes it: three decimals, or "p < 0.001"."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def p_cell(p: float) -> str:
    """A p-value as a table cell: three decimals, "< 0.001", or "–" where there is none."""
    return "–" if pd.isna(p) else p_text(p).removeprefix("p = ").removeprefix("p ")


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


def difference_table(diffs: pd.DataFrame, keys: list[str] | None = None, digits: int = 4,
                     higher_is_better: bool = True, better: str = "better") -> pd.DataFrame:
    """Rows of ``mx.paired_differences`` as a table: ``keys`` columns, pair, difference, 95 % CI, p, wins, verdict.

    Wins are the seeds in which the challenger came out ``better`` (a description, not a test).

    The same numbers as :func:`difference_phrase`, one row per comparison instead of one sentence.
    """
    keys = list(keys or [])
    verdicts = [difference_verdict(lo, hi, higher_is_better) for lo, hi in zip(diffs.ci_low, diffs.ci_high)]
    return pd.DataFrame({
        **{k: diffs[k].to_numpy() for k in keys},
        "comparison": [f"{c} − {b}" for c, b in zip(diffs.challenger, diffs.baseline)],
        "difference": [f"{v:+.{digits}f}" for v in diffs.diff_mean],
        "95 % CI": ["–" if pd.isna(lo) else f"[{lo:+.{digits}f}, {hi:+.{digits}f}]"
                    for lo, hi in zip(diffs.ci_low, diffs.ci_high)],
        "p": [p_cell(p) for p in diffs.p_value],
        f"seeds {better}": [f"{w} of {n}" for w, n in zip(diffs.wins, diffs.n_seeds)],
        "verdict": verdicts})


def corrected_difference_table(diffs: pd.DataFrame, keys: list[str] | None = None, digits: int = 4,
                               higher_is_better: bool = True, better: str = "better",
                               correction: str = "Holm", keep_p: bool = False) -> pd.DataFrame:
    """Rows of :func:`mixact_lib.analysis.rank_tests.corrected_verdicts` (one family) as a table: the columns of
    :func:`difference_table`, but ``p (<correction>)``, the family-corrected p, in place of p (``keep_p``: beside
    it), and the corrected verdict (``too few seeds`` where a row has no interval)."""
    table = difference_table(diffs, keys, digits, higher_is_better, better)
    corrected = [p_cell(p) for p in diffs.p_adjusted]
    if keep_p:
        table.insert(table.columns.get_loc("p") + 1, f"p ({correction})", corrected)
    else:
        table["p"] = corrected
        table = table.rename(columns={"p": f"p ({correction})"})
    table["verdict"] = [TOO_FEW if pd.isna(lo) else v for lo, v in zip(diffs.ci_low, diffs.verdict)]
    return table


def difference_count_values(verdicts) -> dict[str, int]:
    """How many paired comparisons came out better, worse, inconclusive, with too few seeds, and in all."""
    verdicts = list(verdicts)
    return {"all": len(verdicts), **{v: verdicts.count(v) for v in (BETTER, WORSE, OPEN, TOO_FEW)}}


def tested_verdicts(frame: pd.DataFrame) -> list[str]:
    """The verdicts of rows of :func:`mixact_lib.analysis.rank_tests.corrected_verdicts`, ``too few seeds`` where a
    row has no test."""
    return [TOO_FEW if pd.isna(p) else v for p, v in zip(frame.p_value, frame.verdict)]


def corrected_counts(frame: pd.DataFrame, what: str, correction: str = "Holm-corrected", alpha: float = 0.05) -> str:
    """A corrected family's verdicts counted, in words (Markdown): "of 9 <what>, paired by seed and <correction>
    over all 9: **2 better, 0 worse and 7 inconclusive** (uncorrected, 5 of the 9 would pass at 0.05)".

    ``frame``: rows of :func:`mixact_lib.analysis.rank_tests.corrected_verdicts`, decided at ``alpha``.
    """
    n = difference_count_values(tested_verdicts(frame))
    tested = n["all"] - n[TOO_FEW]
    text = (f"of {n['all']} {what}, paired by seed and {correction} over all {tested}: **{n[BETTER]} better, "
            f"{n[WORSE]} worse and {n[OPEN]} inconclusive** (uncorrected, {int((frame.p_value < alpha).sum())} of "
            f"the {tested} would pass at {alpha:g})")
    if n[TOO_FEW]:
        text += f"; {n[TOO_FEW]} {'has' if n[TOO_FEW] == 1 else 'have'} one seed and no test"
    return text


#: the columns :func:`overturned` compares, each kept twice (suffixed ``_fewer`` and ``_all``)
OVERTURN_COLUMNS = ["diff_mean", "ci_low", "ci_high", "p_adjusted", "verdict"]


def overturned(fewer: pd.DataFrame, every: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The rows whose verdict differs between a family judged on fewer seeds and the same family on all seeds.

    ``fewer`` and ``every``: rows with ``keys`` and :data:`OVERTURN_COLUMNS` (e.g. :func:`corrected_verdicts` of
    :func:`mixact_lib.paired_differences`, each corrected over its own rows). Returns ``keys`` and each compared
    column suffixed ``_fewer`` and ``_all``, one row per overturned verdict; a study that grew shows this way which
    of its earlier verdicts the new seeds changed."""
    columns = list(keys) + [f"{c}_{w}" for w in ("fewer", "all") for c in OVERTURN_COLUMNS]
    if fewer.empty or every.empty:
        return pd.DataFrame(columns=columns)
    both = fewer[list(keys) + OVERTURN_COLUMNS].merge(every[list(keys) + OVERTURN_COLUMNS], on=list(keys),
                                                      suffixes=("_fewer", "_all"))
    return both[both.verdict_fewer != both.verdict_all][columns].reset_index(drop=True)


def overturned_sentence(changed: pd.DataFrame, name, fewer: str, every: str, correction: str = "Holm") -> str:
    """:func:`overturned` in words: each overturned verdict with both intervals and corrected p, or that none was.
    ``name(row)`` names a row (e.g. "prelu − ReLU"); ``fewer`` and ``every`` name the two sets of seeds."""
    if changed.empty:
        return f"Every verdict on {fewer} alone is the same on {every}."
    rows = [f"**{name(r)}** was *{r.verdict_fewer}* on {fewer} ({r.diff_mean_fewer:+.4f} [{r.ci_low_fewer:+.4f}, "
            f"{r.ci_high_fewer:+.4f}], {correction} p {r.p_adjusted_fewer:.3f}) and is *{r.verdict_all}* on {every} "
            f"({r.diff_mean_all:+.4f} [{r.ci_low_all:+.4f}, {r.ci_high_all:+.4f}], {correction} p "
            f"{r.p_adjusted_all:.3f})" for r in changed.itertuples()]
    return f"Verdicts the added seeds overturned: {'; '.join(rows)}."


def beside_table5(studies: dict[str, pd.DataFrame], paper: pd.DataFrame, model: str = "resnet",
                  dataset: str = "cifar10", value: str = "final_test_acc") -> pd.DataFrame:
    """Paper B's Table 5 beside ours: one row per activation × optimiser, in the paper's order.

    ``studies`` maps a name (e.g. ``authors_schedule``) to the summaries of one optimiser study
    (:func:`mixact_lib.collect_summaries`), with at most one run per activation, optimiser and seed;
    each becomes ``<name>_mean``, ``<name>_std`` and ``<name>_count`` of ``value`` over seeds, which
    :func:`mixact_lib.show_table` shows as one mean ± sd column. ``paper`` is
    ``mixact_lib.paper_values()``; its Table 5 cell of ``model`` and ``dataset`` is the last column
    (NaN where the paper has none). Rows are the activations and optimisers of the studies, in the
    paper's order.
    """
    order = ["sgd", "momentum", "adagrad", "adadelta", "adam"]  # Table 5's columns
    parts = []
    for name, table in studies.items():
        repeated = table.duplicated(["activation", "optimizer", "seed"])
        if repeated.any():
            first = table[repeated].iloc[0]
            raise ValueError(f"study {name!r} has more than one run of {first.activation} with {first.optimizer}, seed "
                             f"{first.seed} (e.g. two learning rates); keep one setting per optimiser before comparing")
        stats_ = table.groupby(["activation", "optimizer"])[value].agg(["mean", "std", "count"])
        parts.append(stats_.rename(columns=lambda s: f"{name}_{s}"))
    out = pd.concat(parts, axis=1).reset_index()
    cells = paper[(paper.paper == "B") & (paper.table == "Table 5") & (paper.model == model) &
                  (paper.dataset == dataset)]
    cells = cells.assign(optimizer=cells.metric.str.removeprefix("test_acc ")).set_index(["activation", "optimizer"])
    out[f"paper_{model}_{dataset}"] = [cells.paper_value.get((a, o), np.nan) for a, o in zip(out.activation, out.optimizer)]
    rank = {o: i for i, o in enumerate(order)}
    # the paper's row order (relu, lrelu, prelu, swish_beta, arelu), then any activation it does not have
    activations = list(dict.fromkeys([*cells.index.get_level_values("activation"),
                                      *(a for t in studies.values() for a in t.activation)]))
    out = out.sort_values(["optimizer", "activation"], key=lambda s: s.map(rank if s.name == "optimizer" else
                                                                           {a: i for i, a in enumerate(activations)}))
    return out.reset_index(drop=True)
