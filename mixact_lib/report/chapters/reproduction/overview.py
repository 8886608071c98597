"""The reproduction chapter's opening sections: which committed runs there are, and how a verdict is reached (how wide
a prediction interval is against paper C's gaps, why a count of wins is not a test); and what the later parts share:
the verdicts' names, the correction of every family shown with verdicts, paper C's gaps, the verdicts in words.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ....analysis import reproduction, stats
from ....runs.folders import collect_summaries
from ... import verdict_tables
from ...parameters import ParameterError
from ...tables import seed_list, show_table

REPLICATES, DOES_NOT, INCONCLUSIVE, UNTESTABLE = stats.VERDICTS
#: the correction of every family of paired differences this chapter shows with verdicts (not planned claims)
ADJUSTMENT = "holm"


def results_root(results_dir: str) -> Path:
    """The committed results folder as a path; a :class:`ParameterError` saying what to do when it is not a folder."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ParameterError(f"results_dir {results_dir!r} is not a folder (seen from {Path.cwd()}); run this "
                             "chapter from book/ (papermill --cwd book) or give -p results_dir <path to the results "
                             "folder>")
    return root


def committed_runs(root: str | Path) -> pd.DataFrame:
    """Papers A's and C's committed runs under ``root/paper_a/`` and ``root/paper_c/`` (paper B's CPU study and the
    comparison chapter's study, whose runs also say paper C, are read by their own chapters).

    Adds ``norm`` (paper A's reading of eq. 9, ``""`` for paper C) and ``study`` (the folder under
    ``paper_<p>/``: the protocol ``<dataset>`` or a variant such as ``<dataset>-val`` or ``-act-lr-10ep``).
    """
    runs = collect_summaries(Path(root))
    if not len(runs):
        return runs
    parts = pd.Series([Path(f).relative_to(root).parts for f in runs.folder], index=runs.index)
    keep = runs.paper.isin(["a", "c"]) & (parts.str[0] == "paper_" + runs.paper)
    runs = runs[keep].copy()
    runs["norm"] = [reproduction.norm_of(k) if p == "a" else "" for p, k in zip(runs.paper, runs.activation_kwargs)]
    runs["study"] = parts[keep].str[1]
    return runs


def runs_overview(runs: pd.DataFrame, results_dir: str) -> list:
    """How many committed runs there are, and a table of them per paper, study, activation and reading."""
    parts = [f"Committed paper A and C runs found under `{results_dir}`: **{len(runs)}**."]
    if len(runs):
        parts.append(show_table(runs.groupby(["paper", "study", "activation", "norm"]).agg(
            runs=("seed", "size"), seeds=("seed", seed_list),
            epochs=("total_epochs", "max")).reset_index(), labels={"norm": "reading of eq. 9"}))
    return parts


def paper_c_gaps(dataset: str) -> list[float]:
    """Paper C's differences between its networks' accuracies on ``dataset``: every non-zero |a − b|."""
    values = reproduction.paper_values().query("paper == 'C' and dataset == @dataset").paper_value.dropna().tolist()
    return [abs(a - b) for i, a in enumerate(values) for b in values[i + 1:] if a != b]


def _half_width(n: int) -> float:
    """The prediction interval's half-width in sd, for n seeds whose sd is 1."""
    values = np.arange(n) / np.arange(n).std(ddof=1)
    low, high = stats.prediction_interval(values)
    return (high - low) / 2


def interval_sentence(runs: pd.DataFrame, dataset: str) -> str:
    """How wide a prediction interval is at 3 and 5 seeds, its floor at paper C's seed sd against paper C's gaps,
    and why a count of wins is not a test."""
    gaps = paper_c_gaps(dataset)
    protocol = reproduction.protocol_runs(runs, "c", dataset) if len(runs) else runs
    seed_sd = protocol.groupby("activation").best_test_acc.std().dropna() if len(protocol) else pd.Series()
    z = stats.one_run_floor(1.0) / 2  # the normal quantile: the floor is 2·z·sd
    text = (f"In numbers: the interval's half-width is about **{_half_width(5):.2f}·sd at 5 seeds** and "
            f"**{_half_width(3):.2f}·sd at 3**; however many seeds we run, its full width stays above 2·{z:.2f}·sd, "
            "one new run's own spread over seeds (the paper's one run is such a run)")
    if len(seed_sd) and gaps:
        limit = stats.one_run_floor(seed_sd.min())
        text += (f". The seed-to-seed sd of paper C's networks here is {seed_sd.min():.4f} to {seed_sd.max():.4f} "
                 f"(best test accuracy, {len(protocol[protocol.activation == seed_sd.idxmin()])} seeds or more), "
                 f"so no interval for one run is narrower than **{limit:.4f}**, while paper C's gaps between its "
                 f"networks on {dataset} are {min(gaps):.3f} to {max(gaps):.3f}")
        if limit >= max(gaps):
            n_test = reproduction.FULL_TEST_SIZE.get(dataset, 10_000)
            text += (". Its accuracies can therefore be refuted here, but not confirmed; what limits them is the "
                     f"spread of training over seeds, not the test set (the same {n_test:,} images for the paper "
                     "and us)")
    return text + (". A count of **wins**, the seeds in which a claim held, is a description and not a test: it "
                   "ignores how large the differences are, and with no real difference at all, 4 or more of 5 seeds "
                   f"favour a given side {verdict_tables.wins_by_chance(4, 5):.2%} of the time, 3 of 3 "
                   f"{verdict_tables.wins_by_chance(3, 3):.1%}; even 5 of 5 gives a two-sided sign-test p of "
                   f"{stats.sign_test(np.ones(5), np.zeros(5)):.4f}. The claims below are therefore judged by "
                   "paired tests.")


def verdict_counts(verdicts: pd.Series) -> str:
    """The value verdicts in words: "0 replicate, 1 does not and 2 are inconclusive"."""
    counts = verdicts.value_counts()
    return verdict_tables.counts_phrase(*(int(counts.get(v, 0)) for v in (REPLICATES, DOES_NOT, INCONCLUSIVE)))
