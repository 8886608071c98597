"""Paper B's adaptive-versus-fixed family as the analysis plan reads it, and the same family on every seed.

The plan (``results/analysis_plan.yaml``, family ``paper_b_adaptive_vs_fixed``) reads the CPU study at its lowest
``n_seeds`` seeds, Benjamini–Hochberg over the model × pair cells. Seeds the study gained after the plan are
shown beside it as an exploratory check: the same family on every seed, and the verdicts the added seeds
overturned (:func:`mixact_lib.report.verdict_tables.overturned`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...analysis.analysis_plan import family_seeds
from ..tables import seed_list
from ..verdict_tables import overturned, overturned_sentence
from .paper_b import adaptive_vs_fixed

FAMILY = "paper_b_adaptive_vs_fixed"
KEYS = ["model", "baseline", "challenger"]


def plan_seeds(table: pd.DataFrame, results_root: str | Path) -> list[int]:
    """The seeds of ``table`` the plan reads the family at: its lowest ``n_seeds`` (all of them when fewer)."""
    return sorted(set(table.seed))[:family_seeds(results_root, FAMILY)]


def planned_family(table: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """:func:`adaptive_vs_fixed` on the plan's ``seeds`` only: the rows of ``results/claims.csv``."""
    return adaptive_vs_fixed(table[table.seed.isin(seeds)])


def all_seeds_check(table: pd.DataFrame, planned: pd.DataFrame,
                    seeds: list[int]) -> tuple[pd.DataFrame, str, str] | None:
    """The family on every seed of ``table``, a sentence to show above it and one on what the added seeds changed
    (:func:`overturned_sentence`); None when the table has no seed beyond the plan's ``seeds``. ``planned``:
    :func:`planned_family`."""
    added = sorted(set(table.seed) - set(seeds))
    if not added:
        return None
    every = adaptive_vs_fixed(table)
    n = table.seed.nunique()
    intro = (f"**Exploratory: the same family on all {n} seeds.** The study also has seeds {seed_list(added)}, "
             f"added after the plan was written; the plan's verdicts above stay those of seeds {seed_list(seeds)}. "
             "Benjamini–Hochberg over the same cells:")
    changed = overturned(planned, every, KEYS)
    text = overturned_sentence(changed, lambda r: f"{r.challenger} − {r.baseline} ({r.model})",
                               f"seeds {seed_list(seeds)}", f"all {n} seeds", correction="BH")
    return every, intro, text
