"""The reproduction chapter's closing sections: paper B's numbers, how many numbers and planned claims have each
verdict, and what the data decide and rule out.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ... import plan_tables, verdict_tables
from ...tables import show_table
from .overview import UNTESTABLE, paper_c_gaps, verdict_counts
from .paper_c import selection_gain


def paper_b_numbers(table: pd.DataFrame) -> list:
    """Paper B's numbers: any tested ones beside ours, and the untestable ones per dataset with the reason."""
    b = table[table.paper == "B"]
    parts = []
    if (b.n_seeds > 0).any():
        parts.append(show_table(verdict_tables.value_view(b[b.n_seeds > 0], digits=None)))
    if (b.n_seeds == 0).any():
        parts.append(show_table(verdict_tables.untestable_view(b[b.n_seeds == 0])))
    return parts


def all_verdicts(table: pd.DataFrame, claims: pd.DataFrame, out: Path | None = None) -> tuple[list, dict]:
    """How many numbers (each counted once) and planned claims (paper A's sensitivity readings left out) have each
    verdict, per paper; glued: ``r_all_*``, the totals the prose quotes."""
    if out is not None:
        table.to_csv(out / "reproduction.csv", index=False)
    numbers = table[table.role == "primary"]  # each paper number once
    judged = claims[~claims.family.str.contains("sensitivity")]  # paper A's other readings are looks, not claims
    counts = numbers.groupby(["paper", "verdict"]).size().rename("numbers").to_frame().join(
        judged.groupby(["paper", "verdict"]).size().rename("claims"), how="outer").reset_index()
    glued = {"r_all_counts": verdict_counts(numbers.verdict), "r_all_claims_counts": plan_tables.counts_phrase(judged),
             "r_all_untestable": int((numbers.verdict == UNTESTABLE).sum()), "r_all_numbers": len(numbers),
             "r_all_claims": len(judged)}
    return [show_table(counts.astype({"numbers": "Int64", "claims": "Int64"}))], glued


def conclusions(claims: pd.DataFrame, runs: pd.DataFrame, dataset: str) -> str:
    """The chapter's conclusions as a Markdown list: each key planned claim in a sentence, what choosing the epoch
    on the test set adds against paper C's gaps, and the widest paired interval on best test accuracy."""
    key = claims[claims.family.isin(["primary", "matched_compute", "paper_a_table1"])]
    lines = [plan_tables.claim_sentence(r) for r in key.itertuples()]
    gaps, gain = paper_c_gaps(dataset), selection_gain(runs, dataset)
    if len(gain) and gaps:
        lines.append(f"Choosing the epoch on the test set adds {gain.selection_gain_mean.min():.4f} to "
                     f"{gain.selection_gain_mean.max():.4f} per network, as much as paper C's gaps "
                     f"({min(gaps):.3f} to {max(gaps):.3f}).")
    best = claims[(claims.paper == "C") & (claims.metric == "best_test_acc")]
    if len(best):
        widest = best[["ci_low", "ci_high"]].abs().max().max()
        lines.append(f"Every paired 95 % interval on best test accuracy lies within ±{widest:.4f}: differences "
                     f"between paper C's networks (and our controls) larger than {widest:.4f} are ruled out.")
    return "\n".join("- " + line for line in lines) if lines else "No committed runs yet."
