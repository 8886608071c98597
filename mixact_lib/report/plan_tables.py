"""The book's tables and sentences of the analysis plan's claims (``results/claims.csv``).

Formatting only: every number comes from :func:`mixact_lib.analysis.analysis_plan.claims_table`. A claim is shown with
its mean difference, 95 % interval, margin, raw and corrected p, its seeds against the planned seeds, and the
bound the data set: the one-sided 95 % bound in the claim's direction (a difference beyond it is ruled out).
"""
from __future__ import annotations

import pandas as pd

from ..analysis import stats
from . import verdict_tables

REPLICATES, DOES_NOT, INCONCLUSIVE, _ = stats.VERDICTS
PENDING = stats.PENDING
#: the correction of a family as a reader sees it
CORRECTION = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "none"}


def _p(p: float) -> str:
    return "–" if pd.isna(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def short_claim(text: str) -> str:
    """A claim as a table cell: without "ConvNet-", "(on par or slightly better)" and "a convergent function"."""
    return (text.replace("ConvNet-", "").replace(" (on par or slightly better)", "")
            .replace(" a convergent function (tanh or sin)", " tanh or sin"))


def ruled_out(row, digits: int = 4) -> str:
    """What the data rule out for one claim, at one-sided 95 % (its ``bound_low`` / ``bound_high``).

    Superiority ">": a gain above ``bound_high``; "<": a drop below ``bound_low``; non-inferiority: a loss
    beyond ``bound_low``; equivalence: any difference outside [bound_low, bound_high].
    """
    lo, hi = f"{row.bound_low:+.{digits}f}", f"{row.bound_high:+.{digits}f}"
    if row.kind == "equivalence":
        return f"differences outside [{lo}, {hi}]"
    if row.kind == "non_inferiority":
        return f"a loss larger than {-row.bound_low:.{digits}f}" if row.bound_low < 0 else \
            f"any loss (the bound is {lo})"
    if row.direction == ">":
        return f"a difference above {hi}"
    return f"a difference below {lo}"


def excludes_paper(row) -> bool:
    """Whether the paper's own difference (``paper_effect``) lies in the region the data rule out."""
    if pd.isna(row.paper_effect) or row.kind != "superiority" and row.kind != "one_sample":
        return False
    return bool(row.paper_effect > row.bound_high if row.direction == ">" else row.paper_effect < row.bound_low)


def claims_view(claims: pd.DataFrame, digits: int = 4, family: bool = False, ruled: bool = False) -> pd.DataFrame:
    """The claims as the book shows them, narrow enough for a page: claim, measured on, verdict, difference,
    95 % CI, margin, the family-corrected p and the seeds against the planned seeds (``ruled``: also what the data
    rule out; ``family``: the family's name first). The raw p and every other column are in ``claims.csv``."""
    view = pd.DataFrame({
        **({"family": claims.family.to_numpy()} if family else {}),
        "claim": [short_claim(c) for c in claims.claim],
        "measured on": [m.replace("_", " ") if " " not in m else m for m in claims.metric],
        "verdict": claims.verdict.to_numpy(),
        "difference": [f"{v:+.{digits}f}" for v in claims.mean_diff],
        "95 % CI": [f"[{lo:+.{digits}f}, {hi:+.{digits}f}]" for lo, hi in zip(claims.ci_low, claims.ci_high)],
        "margin": ["–" if pd.isna(m) else f"{m:g}" for m in claims.margin],
        "adj. p": [_p(p) for p in claims.p_adjusted],
        "seeds": [f"{n} of {k}" for n, k in zip(claims.n_seeds, claims.n_planned)]})
    if ruled:
        view["ruled out (one-sided 95 %)"] = [ruled_out(r, digits) for r in claims.itertuples()]
    return view


def power_view(claims: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Per claim: the sd of its per-seed differences' interval and the paired seeds 80 % power would need."""
    return pd.DataFrame({
        "claim": [short_claim(c) for c in claims.claim],
        "measured on": [m.replace("_", " ") if " " not in m else m for m in claims.metric],
        "seeds now": claims.n_seeds.to_numpy(),
        "95 % CI half-width": [f"{(hi - lo) / 2:.{digits}f}" for lo, hi in zip(claims.ci_low, claims.ci_high)],
        "seeds for 80 % power": ["–" if pd.isna(k) else str(int(k)) for k in claims.seeds_needed]})


def verdict_counts(claims: pd.DataFrame) -> dict[str, int]:
    """How many claims replicate, do not, are inconclusive, are pending, and in all (``checks``)."""
    counts = claims.verdict.value_counts()
    return {"checks": len(claims),
            **{v: int(counts.get(v, 0)) for v in (REPLICATES, DOES_NOT, INCONCLUSIVE, PENDING)}}


def counts_phrase(claims: pd.DataFrame) -> str:
    """The verdicts of ``claims`` in words, verbs agreeing: "1 replicates, 0 do not, 2 are inconclusive"."""
    c = verdict_counts(claims)
    return verdict_tables.counts_phrase(c[REPLICATES], c[DOES_NOT], c[INCONCLUSIVE], c[PENDING])


def claim_sentence(row, digits: int = 4) -> str:
    """One claim in words: the difference, its interval, the corrected p, the verdict and what is ruled out."""
    text = (f"**{short_claim(row.claim)}** ({row.metric.replace('_', ' ')}): {row.mean_diff:+.{digits}f}, 95 % CI "
            f"[{row.ci_low:+.{digits}f}, {row.ci_high:+.{digits}f}], {CORRECTION[row.adjustment]}-adjusted "
            f"p {_p(row.p_adjusted)}, {row.n_seeds} seeds: *{row.verdict}*")
    if row.verdict == PENDING:
        text += f" until {row.n_planned} seeds are in"
    if row.kind == "equivalence" and row.verdict == REPLICATES:
        text += f": the two are equivalent within ±{row.margin:g}"
    if row.verdict in (INCONCLUSIVE, PENDING):
        bounds = "each bound one-sided 95 %" if row.kind == "equivalence" else "one-sided 95 %"
        text += f"; the data already rule out {ruled_out(row, digits)} ({bounds})"
        if excludes_paper(row):
            text += f", **the paper's own {row.paper_effect:+.{digits}f} among it**"
        if not pd.isna(row.seeds_needed):
            text += f"; {power_phrase(row, digits)}"
    return text + "."


def power_phrase(row, digits: int = 4) -> str:
    """The paired seeds of ``row.seeds_needed`` in words, with the true difference they assume: the paper's own
    for a superiority or one-sample claim, 0 against the margin for non-inferiority and equivalence (the
    assumptions of :func:`mixact_lib.analysis.stats.seeds_for_power`, at α before the family's correction). When
    the claim already has that many seeds, the phrase says so: its interval is then the answer, not a lack of
    seeds."""
    if row.kind in ("non_inferiority", "equivalence"):
        at = f"a true difference of 0 (margin {row.margin:g})"
    else:
        at = f"the paper's own difference ({row.paper_effect:+.{digits}f})"
    needed = int(row.seeds_needed)
    if needed <= row.n_seeds:
        return (f"the {row.n_seeds} seeds had at least 80 % power at {at}, for which about {needed} paired seeds "
                f"suffice at the spread observed")
    return f"80 % power at {at} needs about {needed} paired seeds"
