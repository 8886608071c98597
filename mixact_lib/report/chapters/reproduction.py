"""What the reproduction chapter (``book/reproduction.ipynb``) prints: its tables and sentences, section by section.

Each public function returns the *parts* one cell shows, in order: a ``str`` is Markdown, anything else is a
table from :func:`mixact_lib.report.tables.show_table`. Functions whose numbers the chapter's prose quotes
(``{glue:text}``) return ``(parts, glued)``, ``glued`` mapping each glue name to its value. Where a cell used to
write a CSV next to its figures, the function writes it into ``out`` (the chapter's results folder) when given.

Verdicts are never decided here: a paper number's comes from :mod:`mixact_lib.analysis.reproduction`, a planned
claim's from :mod:`mixact_lib.analysis.analysis_plan`, and a family of paired differences shown with verdicts
(paper A's learning-rate study, AdAct's slopes against Optimized's α) from
:func:`mixact_lib.analysis.rank_tests.corrected_verdicts`, Holm-corrected over the rows of its table.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...analysis import analysis_plan, rank_tests, reproduction, stats
from ...analysis.results import mean_sd_table, mixture_weights, paired_differences, phase_accuracy
from ...runs.config import paper_config
from ...runs.folders import collect_summaries
from ...studies import adact_shapes
from .. import plan_tables, verdict_tables
from ..parameters import ParameterError
from ..tables import show_table

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
    """Papers A's and C's committed runs under ``root`` (paper B's CPU study has its own chapter).

    Adds ``norm`` (paper A's reading of eq. 9, ``""`` for paper C) and ``study`` (the folder under
    ``paper_<p>/``: the protocol ``<dataset>`` or a variant such as ``<dataset>-val`` or ``-act-lr-10ep``).
    """
    runs = collect_summaries(Path(root))
    if not len(runs):
        return runs
    runs = runs[runs.paper.isin(["a", "c"])].copy()
    runs["norm"] = [reproduction.norm_of(k) if p == "a" else "" for p, k in zip(runs.paper, runs.activation_kwargs)]
    runs["study"] = [Path(f).relative_to(root).parts[1] for f in runs.folder]
    return runs


def runs_overview(runs: pd.DataFrame, results_dir: str) -> list:
    """How many committed runs there are, and a table of them per paper, study, activation and reading."""
    parts = [f"Committed paper A and C runs found under `{results_dir}`: **{len(runs)}**."]
    if len(runs):
        parts.append(show_table(runs.groupby(["paper", "study", "activation", "norm"]).agg(
            runs=("seed", "size"), seeds=("seed", lambda s: sorted(set(s))),
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


def _counts(verdicts: pd.Series) -> str:
    """The value verdicts in words: "0 replicate, 1 does not and 2 are inconclusive"."""
    counts = verdicts.value_counts()
    return verdict_tables.counts_phrase(*(int(counts.get(v, 0)) for v in (REPLICATES, DOES_NOT, INCONCLUSIVE)))


def paper_c_numbers(table: pd.DataFrame) -> tuple[list, dict]:
    """Paper C's Table 1 beside ours: the tested numbers with their verdicts, a summary per verdict, the
    untestable ones with the reason; glued: the counts the prose quotes (``r_c_*``), each number counted once."""
    rows = table[table.paper == "C"]
    tested, untested = rows[rows.n_seeds > 0], rows[rows.n_seeds == 0]
    counted = tested[tested.role == "primary"]  # one row per paper number: the paper's own metric
    counts = counted.verdict.value_counts()
    glued = {f"r_c_{key}": int(counts.get(verdict, 0))
             for key, verdict in (("replicates", REPLICATES), ("not", DOES_NOT), ("open", INCONCLUSIVE))}
    glued |= {"r_c_tested": len(counted), "r_c_counts": _counts(counted.verdict), "r_c_untested": len(untested)}
    parts = []
    if len(tested):
        view = verdict_tables.value_view(tested, digits=None)
        view = view[["network", "number", "verdict", "paper", "ours: mean ± sd (n)", "95 % prediction interval",
                     "effect"] + (["dataset"] if tested.dataset.nunique() > 1 else [])]
        parts += [show_table(view),
                  f"Paper C's numbers on {', '.join(tested.dataset.unique())}, each measured as the paper does (best "
                  "test epoch) and, where validation runs exist, at the best-validation epoch. The verdicts, and how "
                  "far each kind is from deciding:",
                  show_table(verdict_tables.verdict_summary(tested))]
    else:
        parts.append("No full-protocol paper C runs are committed yet: `python tools/reproduce.py --paper c`.")
    if len(untested):
        parts += [f"The other {len(untested)} numbers of paper C's Table 1 cannot be tested here:",
                  show_table(verdict_tables.untestable_view(untested))]
    return parts, glued


def pairing_sentence(runs: pd.DataFrame, dataset: str) -> str:
    """How much pairing by seed helps: the per-seed correlation of AdAct's and ReLU's accuracy, best and final."""
    protocol = reproduction.protocol_runs(runs, "c", dataset)
    r_best, n = analysis_plan.pairing_correlation(protocol, "adact", "relu", "best_test_acc")
    r_final, _ = analysis_plan.pairing_correlation(protocol, "adact", "relu", "final_test_acc")
    return (f"Pairing by seed helps only as far as the two networks' accuracies move together over seeds. Over the "
            f"{n} seeds both have, the correlation of AdAct's and ReLU's accuracy is {r_best:+.2f} at the best epoch "
            f"and {r_final:+.2f} at the final epoch ("
            + ("below 0.5 on both: the runs share their initialisation seed and data order, but pairing narrows the "
               "intervals little, and the seeds a claim needs are set by the two spreads"
               if max(r_best, r_final) < 0.5 else "pairing by seed narrows the intervals") + ").")


def paper_c_claims(claims: pd.DataFrame, root: str | Path, runs: pd.DataFrame, dataset: str,
                   out: Path | None = None) -> tuple[list, dict]:
    """Paper C's primary family (table and sentences), the power the first five seeds gave, how much pairing
    helps, and the secondary family; glued: ``r_c_claims_checks`` and ``r_c_claims_counts``."""
    primary = claims[claims.family == "primary"]
    if out is not None:
        claims.to_csv(out / "claims.csv", index=False)
    glued = {"r_c_claims_checks": len(primary),
             "r_c_claims_counts": plan_tables.counts_phrase(primary) if len(primary) else "none tested"}
    if len(primary):
        first = analysis_plan.paper_c_claims(root, dataset, first_seeds=5)
        first = first[first.family == "primary"]
        if out is not None:
            first.to_csv(out / "paper_c_power_first_five_seeds.csv", index=False)
        parts = [show_table(plan_tables.claims_view(primary)),
                 "\n".join("- " + plan_tables.claim_sentence(r) for r in primary.itertuples()),
                 "**Power.** The plan's 20 seeds came from the first five: the sd of their paired differences and the "
                 "paired seeds that 80 % power at paper C's own difference would need (two-sided, α = 0.05, before "
                 "the family's correction; for the non-inferiority claim, at a true difference of 0 against the "
                 "margin):",
                 show_table(plan_tables.power_view(first)), pairing_sentence(runs, dataset)]
    else:
        parts = ["No paired full-protocol runs yet, so the ordering claims are untested."]
    other = claims[claims.family == "paper_c_other_metrics"]
    if len(other):
        parts += ["The secondary family: the same claims at the final epoch and at the best-validation epoch.",
                  show_table(plan_tables.claims_view(other))]
    return parts, glued


def selection_gain(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Per network with validation-split runs: best test accuracy − test accuracy at the best-validation epoch,
    mean, sd and count over seeds (``selection_gain_*``): what choosing the epoch on the test set adds."""
    val_runs = reproduction.validation_runs(runs, "c", dataset) if len(runs) else runs
    if not len(val_runs):
        return pd.DataFrame(columns=["activation", "selection_gain_mean", "selection_gain_std", "selection_gain_count"])
    gain = val_runs.assign(selection_gain=val_runs.best_test_acc - val_runs.test_acc_at_best_val)
    return mean_sd_table(gain, "activation", "selection_gain")


def selection_parts(runs: pd.DataFrame, dataset: str, out: Path | None = None) -> list:
    """Paper C's networks with a held-out validation split: the three ways to pick the epoch, and what picking
    it on the test set adds, against paper C's own gaps between its networks."""
    val_runs = reproduction.validation_runs(runs, "c", dataset) if len(runs) else runs
    if not len(val_runs):
        return ["No validation-split runs are committed yet: `python tools/reproduce.py --paper c --seeds 0 1 2 --val`."]
    gaps, gain = paper_c_gaps(dataset), selection_gain(runs, dataset)
    if out is not None:
        gain.to_csv(out / "paper_c_selection_gain.csv", index=False)
    parts = ["With a held-out validation split (10 % of train, the network trained on the other 90 %): the paper's "
             "metric (best test epoch), the test accuracy at the best-*validation* epoch, and the final epoch, mean ± "
             "sd over seeds.",
             show_table(mean_sd_table(val_runs, "activation", ["best_test_acc", "test_acc_at_best_val",
                                                               "final_test_acc"])),
             "What choosing the epoch on the test set adds over choosing it on the validation split, in the same runs"
             + (f" (paper C's own differences between its networks on {dataset} are {min(gaps):.3f} to "
                f"{max(gaps):.3f}):" if gaps else ":"),
             show_table(gain, labels={"selection_gain_mean": "best test − test at best val"})]
    if gaps:
        parts.append(f"Choosing the epoch on the test set adds **{gain.selection_gain_mean.min():.4f} to "
                     f"{gain.selection_gain_mean.max():.4f}** over choosing it on a held-out split, per network: as "
                     f"large as paper C's own gaps between its networks ({min(gaps):.3f} to {max(gaps):.3f}). A "
                     "ranking built on best-test-epoch accuracies differing by that much partly measures which "
                     "network's curve happened to peak highest on the test set.")
    return parts


def best_and_final(runs: pd.DataFrame, dataset: str) -> list:
    """Paper C's protocol runs: best-epoch and final-epoch test accuracy and their gap, mean ± sd per network."""
    full = reproduction.protocol_runs(runs, "c", dataset) if len(runs) else runs
    if not len(full):
        return []
    full = full.assign(best_minus_final=full.best_test_acc - full.final_test_acc)
    return ["Best-epoch test accuracy (the paper's metric, chosen on the test set, so optimistic) beside the "
            "final-epoch accuracy, which involves no choice. The gap is what picking the best epoch on the test set "
            "adds.", show_table(mean_sd_table(full, "activation", ["best_test_acc", "final_test_acc",
                                                                    "best_minus_final"]))]


def cost_parts(cost: pd.DataFrame, out: Path | None = None) -> list:
    """Each paper C network's cost (:func:`mixact_lib.analysis.reproduction.paper_c_cost`) per network: seeds,
    epochs, median seconds with their range and against ReLU's, mean accuracies; and Optimized's cost in words."""
    if not len(cost):
        return []
    if out is not None:
        cost.to_csv(out / "paper_c_cost.csv", index=False)
    per_network = cost.groupby("network", sort=False).agg(
        seeds=("seed", "count"), epochs=("epochs", "median"), median_seconds=("seconds", "median"),
        min_seconds=("seconds", "min"), max_seconds=("seconds", "max"),
        best_test_acc=("best_test_acc", "mean"), final_test_acc=("final_test_acc", "mean")).reset_index()
    whole = ["epochs", "median_seconds", "min_seconds", "max_seconds"]
    per_network[whole] = per_network[whole].round().astype(int)
    relu_median = per_network.set_index("network").median_seconds.get("relu")
    per_network["time_vs_relu"] = per_network.median_seconds / relu_median if relu_median else float("nan")
    per_network["seconds"] = [f"{m:,} ({lo:,} to {hi:,})" for m, lo, hi in
                              zip(per_network.median_seconds, per_network.min_seconds, per_network.max_seconds)]
    parts = [show_table(per_network[["network", "seeds", "epochs", "seconds", "time_vs_relu", "best_test_acc",
                                     "final_test_acc"]], labels={
        "seconds": "seconds: median (range)", "time_vs_relu": "median ÷ ReLU's", "best_test_acc": "best test acc (mean)",
        "final_test_acc": "final test acc (mean)"}, formats={"time_vs_relu": "{:.1f}"},
        note="Seconds: the wall clock of each run's machine under its load at the time (environment.json), so rough; "
             "epochs are exact.")]
    optimized = cost[cost.network == "optimized"]
    if len(optimized) and relu_median:
        parts.append(
            f"ConvNet-Optimized's real cost: **{int(optimized.epochs.median())} epochs** "
            f"({int(optimized.search_epochs.median())} of them the AdAct run it is read from) and a median "
            f"**{optimized.seconds.median() / relu_median:.1f} times ReLU's wall clock** "
            f"({optimized.search_seconds.median() / optimized.seconds.median():.0%} of it AdAct's), against "
            + ", ".join(f"{cost[cost.network == n].seconds.median() / relu_median:.1f} for {n}"
                        for n in ("prelu", "mish") if (cost.network == n).any())
            + ". Seconds were measured on machines under varying load, so these ratios are rough; the epochs are "
              "exact.")
    return parts


def controls_parts(claims: pd.DataFrame, cost: pd.DataFrame, runs: pd.DataFrame, dataset: str,
                   out: Path | None = None) -> list:
    """The matched-compute controls (the plan's equivalence family): table and sentences, the command for any
    baseline with fewer than two seeds, and PReLU against Mish seed by seed (McNemar's test)."""
    controls = claims[claims.family == "matched_compute"]
    missing = [n for n in ("prelu", "mish") if (cost.network == n).sum() < 2] if len(cost) else ["prelu", "mish"]
    parts = []
    if len(controls):
        parts += [show_table(plan_tables.claims_view(controls).assign(
                      claim=lambda v: v.claim.str.removeprefix("control: "))),
                  "\n".join("- " + plan_tables.claim_sentence(r) for r in controls.itertuples())]
    if missing:
        shown = {"prelu": "all-PReLU", "mish": "all-Mish"}
        parts.append("Fewer than two seeds are committed for " + " and ".join(shown[n] for n in missing)
                     + ", so " + ("its comparisons are" if len(missing) == 1 else "their comparisons are")
                     + " not tested yet: `python tools/reproduce.py --paper c --networks "
                     + " ".join(missing) + " --seeds 0 1 2 3 4`.")
    mc = reproduction.mcnemar_by_seed(runs, "prelu", "mish", dataset)
    if len(mc):
        if out is not None:
            mc.to_csv(out / "paper_c_mcnemar_prelu_mish.csv", index=False)
        parts += ["The two baselines on the same test images, final epoch, seed by seed (McNemar's exact test; only "
                  "runs that saved their predictions):",
                  show_table(mc[["seed", "prelu_only", "mish_only", "p_value"]], formats={"p_value": "{:.3f}"},
                             labels={"prelu_only": "PReLU alone right", "mish_only": "Mish alone right"})]
    return parts


def _p_cell(p: float) -> str:
    """A p-value as a table cell: three decimals, or "< 0.001"."""
    return "–" if pd.isna(p) else verdict_tables.p_text(p).removeprefix("p = ").removeprefix("p ")


def corrected_slope_differences(slope_diffs: pd.DataFrame) -> pd.DataFrame:
    """AdAct's slope − Optimized's α (:func:`mixact_lib.studies.adact_shapes.slope_differences`), every layer and
    measure one family: ``p_adjusted`` (Holm) and ``verdict`` in words, from
    :func:`mixact_lib.analysis.rank_tests.corrected_verdicts` (above 0: Optimized's α is the more negative)."""
    frame = rank_tests.corrected_verdicts(slope_diffs.rename(columns={"mean_diff": "diff_mean"}), ADJUSTMENT)
    words = {"better": "Optimized's more negative", "worse": "AdAct's more negative"}
    return frame.rename(columns={"diff_mean": "mean_diff"}).assign(verdict=frame.verdict.replace(words))


def adact_runs(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Paper C's full-protocol AdAct runs on ``dataset``."""
    return reproduction.protocol_runs(runs[runs.activation == "adact"], "c", dataset) if len(runs) else runs


def adact_slopes(root: str | Path, runs: pd.DataFrame, dataset: str, out: Path | None = None) -> list:
    """What AdAct learns for x < 0: its effective and linear-part slopes per layer beside Optimized's PReLU α,
    and AdAct − Optimized paired by seed, layer by layer, Holm-corrected over every layer and measure shown."""
    if not len(adact_runs(runs, dataset)):
        return ["No full-protocol AdAct runs are committed yet: `python tools/reproduce.py --paper c`."]
    neg = adact_shapes.negative_slopes(Path(root) / "paper_c" / dataset)
    slope_diffs = corrected_slope_differences(adact_shapes.slope_differences(neg))
    if out is not None:
        neg.to_csv(out / "paper_c_negative_slopes.csv", index=False)
        slope_diffs.to_csv(out / "paper_c_slope_differences.csv", index=False)
    view = mean_sd_table(neg, "layer", ["effective_slope", "linear_part_slope", "optimized_prelu_slope"])
    view.insert(1, "Optimized member (seeds)", view.layer.map(neg.groupby("layer", sort=False).optimized_member.agg(
        lambda m: ", ".join(f"{k} {v}" for k, v in m.value_counts().items()))))
    rows = []
    for layer, d in slope_diffs.groupby("layer", sort=False):
        by = d.set_index("measure")
        row = {("layer", ""): layer, ("PReLU in seeds", ""): by.seeds.iloc[0]}
        for measure, name in (("effective", "effective slope − α"), ("linear part", "linear part − α")):
            r = by.loc[measure]
            row |= {(name, "mean"): f"{r.mean_diff:+.3f}", (name, "95 % CI"): f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]",
                    (name, "p (Holm)"): _p_cell(r.p_adjusted), (name, "verdict"): r.verdict}
        rows.append(row)
    layer_means = neg.groupby("layer").effective_slope.mean()
    alphas = neg.optimized_prelu_slope.dropna()
    parts = [show_table(view, labels={"optimized_prelu_slope": "Optimized PReLU α"}),
             f"AdAct's effective slope is negative in {int((neg.effective_slope < 0).sum())} of {len(neg)} layers × "
             f"seeds (layer means {layer_means.min():+.3f} to {layer_means.max():+.3f}); Optimized's PReLU learns α "
             f"from {alphas.min():+.3f} to {alphas.max():+.3f} in the {len(alphas)} layers × seeds where it is "
             "chosen. " + (f"Paired by seed, layer by layer (AdAct − Optimized); the verdict follows the Holm-corrected "
                           f"p over the {len(slope_diffs)} comparisons shown:" if rows else
                           "No layer is PReLU in Optimized in 2 or more seeds: nothing to pair.")]
    if rows:
        parts.append(show_table(pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(list(rows[0])))))
    return parts


def shape_gaps(shapes: pd.DataFrame) -> list:
    """Per layer, from learned-shape curves (``layer``, ``x``, ``y``): the largest |f(x) − ReLU(x)| for x ≥ 0 and
    for x < 0, and the lowest value f takes."""
    gap = (shapes.y - shapes.x.clip(lower=0)).abs().groupby([shapes.layer, shapes.x >= 0]).max().unstack()
    return ["Per layer, over the seeds: the largest distance |f(x) − ReLU(x)| for x ≥ 0 and for x < 0, and the lowest "
            "value f takes, the dip that SiLU, Mish and ELU bring below 0:",
            show_table(pd.DataFrame({"layer": gap.index, "largest |f − ReLU|, x ≥ 0": gap[True].to_numpy(),
                                     "largest |f − ReLU|, x < 0": gap[False].to_numpy(),
                                     "lowest f": shapes.groupby("layer").y.min().reindex(gap.index).to_numpy()}),
                       digits=2)]


def paper_a_numbers(table: pd.DataFrame, runs: pd.DataFrame, norms: list[str], dataset: str) -> tuple[list, dict]:
    """Paper A's Table 1 beside ours: the primary reading's verdicts, every reading's verdict per number, a summary
    per reading, the number nearest 1/3, and the untestable ones; glued: ``r_a_counts``, ``r_a_reading``,
    ``r_a_numbers``, ``r_a_dataset`` (– without runs)."""
    rows = table[table.paper == "A"]
    measured = rows[rows.n_seeds > 0].assign(reading=lambda t: t.activation.str.extract(r"\((\w+)\)", expand=False))
    parts, glued = [], {f"r_a_{key}": "–" for key in ("counts", "reading", "numbers", "dataset")}
    if len(measured):
        readings = [n for n in norms if n in set(measured.reading)]
        first = measured[measured.reading == readings[0]]
        verdicts = measured.pivot(index=["dataset", "metric"], columns="reading", values="verdict")[readings]
        verdicts = first.set_index(["dataset", "metric"])[["paper_value", "effect"]].join(verdicts).reset_index()
        seeds = sorted(set(reproduction.protocol_runs(runs, "a", dataset).seed))
        summary = pd.concat([verdict_tables.verdict_summary(measured[measured.reading == n], 3).assign(reading=n)
                             for n in readings], ignore_index=True)
        near = first.loc[first.effect.idxmin()]
        parts += [f"Under the *{readings[0]}* reading, on {', '.join(first.dataset.unique())}:",
                  show_table(verdict_tables.value_view(first, digits=None)[
                      ["number", "verdict", "paper", "ours: mean ± sd (n)", "95 % prediction interval", "effect"]]),
                  "The verdict under every reading (intervals and notes: `results/reproduction.csv`):",
                  show_table(verdicts.drop(columns="dataset").rename(columns={"metric": "number",
                                                                             "paper_value": "paper"}),
                             formats={"paper": "{:g}", "effect": "{:.2g}"}),
                  "The verdicts of each reading, and how far each kind is from deciding:",
                  show_table(summary[["reading", *summary.columns[:-1]]]),
                  f"All {len(readings)} readings rest on the same {len(seeds)} seeds and share their cycle 1, so the "
                  f"rows above describe {len(seeds)} runs' worth of evidence, not {len(seeds) * len(readings)}. Paper "
                  f"A's weight nearest the uniform start, {near.metric} = {near.paper_value:g} (effect "
                  f"{near.effect:.4f}), cannot replicate under any reading: no interval over seeds is that narrow."]
        glued = {"r_a_counts": _counts(first.verdict), "r_a_reading": readings[0], "r_a_numbers": len(first),
                 "r_a_dataset": ", ".join(first.dataset.unique())}
    untested = rows[rows.n_seeds == 0]
    if len(untested):
        parts += [f"Paper A's other {len(untested)} weights cannot be tested here:",
                  show_table(verdict_tables.untestable_view(untested))]
    return parts, glued


def paper_a_claims(claims: pd.DataFrame, out: Path | None = None) -> list:
    """Paper A's planned claims: the primary reading's family (table, sentences, counts) and the sensitivity
    readings, each Holm-corrected over its own three layers (by the plan)."""
    a_claims = claims[claims.paper == "A"]
    if out is not None:
        a_claims.to_csv(out / "paper_a_claims.csv", index=False)
    primary = a_claims[a_claims.family == "paper_a_table1"]
    if not len(primary):
        return ["No full-protocol paper A runs yet, so its claims are untested."]
    sensitivity = a_claims[a_claims.family != "paper_a_table1"]
    view = plan_tables.claims_view(sensitivity)[["claim", "verdict", "difference", "95 % CI", "adj. p"]]
    view.insert(0, "reading", [Path(r).name for r in sensitivity.runs])
    return [show_table(plan_tables.claims_view(primary)),
            "\n".join("- " + plan_tables.claim_sentence(r) for r in primary.itertuples()),
            f"Under the primary reading: **{plan_tables.counts_phrase(primary)}**. The sensitivity readings, each "
            "Holm-corrected over its own three layers (they share cycle 1 and the seeds with the primary reading, so "
            "they are further looks at the same runs, not replications):",
            show_table(view)]


def weights_long(runs: pd.DataFrame, columns: tuple[str, ...] = ("norm", "seed")) -> pd.DataFrame:
    """Every run's final mixture weights, one row per run, layer and member (``layer``, ``member``, ``p``),
    with the run's ``columns``."""
    rows = []
    for r in runs.to_dict("records"):
        for layer, w in mixture_weights(r["folder"]).iterrows():
            rows += [{**{c: r[c] for c in columns}, "layer": layer, "member": m, "p": v} for m, v in w.items()]
    return pd.DataFrame(rows, columns=[*columns, "layer", "member", "p"])


def paper_a_spreads(dataset: str) -> pd.Series:
    """Paper A's own spread per layer on ``dataset`` (largest minus smallest weight of its one run), by layer."""
    pv = reproduction.paper_values().query("paper == 'A' and dataset == @dataset")
    return pv.groupby(pv.metric.str.split().str[2:].str.join(" ")).paper_value.agg(lambda p: p.max() - p.min())


def weights_parts(weights: pd.DataFrame, dataset: str, out: Path | None = None) -> list:
    """Paper A's protocol runs (``weights``: :func:`weights_long`): mean ± sd of each member's weight per reading and
    layer, and how far the weights moved from the uniform start (the spread) beside paper A's own spreads."""
    if out is not None:
        weights.to_csv(out / "paper_a_weights.csv", index=False)
    wide = weights.pivot_table(index=["norm", "layer", "seed"], columns="member", values="p").reset_index()
    spread = weights.groupby(["norm", "seed", "layer"]).p.agg(lambda p: p.max() - p.min()).groupby("norm").agg(
        ["mean", "max"])
    return [show_table(mean_sd_table(wide, ["norm", "layer"], ["relu", "tanh", "sin"]),
                       labels={"norm": "reading", "relu": "p(relu)", "tanh": "p(tanh)", "sin": "p(sin)"}),
            "How far the weights moved from the uniform start: the *spread* of a layer (largest minus smallest p) "
            "averages " + ", ".join(f"{s['mean']:.2f} under {n} (at most {s['max']:.2f})" for n, s in spread.iterrows())
            + "; paper A's own spreads on this dataset are "
            + ", ".join(f"{v:.2f} ({k})" for k, v in paper_a_spreads(dataset).items()) + "."]


def weights_beside_paper(weights: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Paper A's single run on ``dataset`` (``norm`` "paper A Table 1") stacked on our weights, for one figure."""
    paper = reproduction.paper_values().query("paper == 'A' and dataset == @dataset")
    paper = paper.assign(layer=paper.metric.str.split().str[2:].str.join(" "), member=paper.metric.str.split().str[1],
                         p=paper.paper_value, norm="paper A Table 1")[["norm", "layer", "member", "p"]]
    return pd.concat([paper, weights], ignore_index=True)


def cycle_moves(phases: pd.DataFrame) -> pd.DataFrame:
    """Per reading (``norm``): in how many seeds the best epoch falls in cycle 1, and the test accuracy at the end of
    cycles 2 and 3 minus the end of cycle 1, paired by seed, with its 95 % interval (no verdict)."""
    end = phases.pivot_table(index=["norm", "seed"], columns="phase", values="end_test_acc")
    best_phase = phases.loc[phases.groupby("folder").best_test_acc.idxmax(), ["norm", "seed", "phase"]]  # first on ties
    in_cycle1 = best_phase.groupby("norm", sort=False).phase.agg(lambda p: f"{int((p == 1).sum())} of {len(p)}")
    rows = []
    for norm, e in end.groupby(level="norm", sort=False):
        moves = [stats.paired_difference(e[k], e[1]) for k in (2, 3)]
        rows.append({"reading": norm, "best epoch in cycle 1": f"{in_cycle1[norm]} seeds",
                     **{f"end of cycle {k} − end of cycle 1": f"{m['mean_diff']:+.4f}" for k, m in zip((2, 3), moves)},
                     **{f"cycle {k}: 95 % CI": f"[{m['ci_low']:+.4f}, {m['ci_high']:+.4f}]" for k, m in zip((2, 3), moves)}})
    return pd.DataFrame(rows)[["reading", "best epoch in cycle 1", "end of cycle 2 − end of cycle 1",
                               "cycle 2: 95 % CI", "end of cycle 3 − end of cycle 1", "cycle 3: 95 % CI"]]


def paper_a_cycles(a_runs: pd.DataFrame, out: Path | None = None) -> list:
    """Paper A's runs cycle by cycle: accuracy per reading, accuracy at the end of and best within each cycle (the
    shared cycle 1 shown once when it is identical across readings), and where the best epoch falls."""
    phases = phase_accuracy(a_runs.folder.tolist()).merge(a_runs[["folder", "norm", "seed"]], on="folder")
    if out is not None:
        phases.to_csv(out / "paper_a_phase_accuracy.csv", index=False)
    cycle1 = phases[phases.phase == 1]
    shared = bool(cycle1.groupby("seed")[["end_test_acc", "best_test_acc"]].nunique().eq(1).all().all())
    shown = (pd.concat([cycle1.drop_duplicates("seed").assign(norm="every reading (shared)"), phases[phases.phase > 1]])
             if shared else phases)  # one run per seed, whatever the reading: count it once
    best_phase = phases.loc[phases.groupby("folder").best_test_acc.idxmax(), ["norm", "seed", "phase"]]
    seeds_all = best_phase.groupby("seed").phase.agg(lambda p: bool((p == 1).all()))
    return ["Accuracy of the same runs (paper A reports no accuracy at all; shown so the readings can be compared on "
            "more than their weights):",
            show_table(mean_sd_table(a_runs, "norm", ["best_test_acc", "final_test_acc"]), labels={"norm": "reading"}),
            "Test accuracy at the end of each cycle and the best within it, mean over seeds. Cycle 1 trains the "
            "network with the mixture frozen at the uniform start"
            + (", so it is one run per seed under every reading (checked: identical), shown once:"
               if shared else "; here it differs between readings:"),
            show_table(mean_sd_table(shown, ["norm", "phase", "trains", "epochs"], ["end_test_acc", "best_test_acc"]),
                       labels={"norm": "reading", "end_test_acc_mean": "test acc at its end",
                               "best_test_acc_mean": "best test acc in it"}),
            f"The best test epoch falls in cycle 1, before the mixture has trained at all, in **{int(seeds_all.sum())} "
            f"of {len(seeds_all)} seeds under every reading**. Cycle 1 is one run per seed, so that is "
            f"{len(seeds_all)} runs, not {len(best_phase)}. Per reading, with the change in test accuracy paired by seed:",
            show_table(cycle_moves(phases))]


def act_lr_study(root: str | Path, dataset: str) -> tuple[pd.DataFrame, list]:
    """Paper A's longest committed learning-rate study: its runs (with ``act_lr``, the cycle-2 learning rate) and
    what it is (epochs, seeds, any shorter study), or the command that makes it."""
    studies = reproduction.act_lr_studies(root, dataset)  # cycle-2 epochs → runs, longest first
    if not studies:
        return pd.DataFrame(), ["This study has not been run on this machine yet: `python tools/reproduce.py --paper a "
                                "--norms softmax --seeds 0 1 2 --act-lrs 1e-3 1e-2 1e-1`."]
    epochs, runs = next(iter(studies.items()))
    runs = runs.assign(act_lr=runs.lr)
    seeds = sorted(set(runs.seed))
    others = [f"{e} epochs at seeds {', '.join(map(str, sorted(set(r.seed))))}" for e, r in list(studies.items())[1:]]
    return runs, [f"This study ran cycle 2 for **{epochs} epochs** at **{len(seeds)} seeds** ({', '.join(map(str, seeds))});"
                  f" the protocol's cycle 2 runs {paper_config('a').phases[1].epochs} epochs at 5 seeds. Each larger "
                  "learning rate is paired by seed with the smallest (both start from the same cycle-1 state), with a "
                  "paired t interval; each table of such differences below is one family, judged on its Holm-corrected "
                  "p. At this many seeds only a large difference can be told from 0."
                  + (f" A shorter study is also committed ({'; '.join(others)}) and not shown." if others else "")]


def layer_spreads(weights: pd.DataFrame) -> pd.DataFrame:
    """Each run's spread per layer (largest minus smallest weight), indexed by norm, act_lr and seed, one column per
    layer."""
    return weights.groupby(["norm", "act_lr", "seed", "layer"]).p.agg(lambda p: p.max() - p.min()).unstack("layer")


def act_lr_summary(lr_runs: pd.DataFrame, lr_weights: pd.DataFrame, dataset: str, out: Path | None = None) -> list:
    """Per cycle-2 learning rate: the mean spread per layer, in how many seeds paper A's two claims hold (a
    description), and layer 1's largest weight counted over seeds."""
    if not len(lr_runs):
        return []
    spread = layer_spreads(lr_weights)
    claims = reproduction.paper_a_claims_per_run(lr_runs.folder.tolist()).merge(
        lr_runs[["folder", "norm", "act_lr"]], on="folder")
    summary = spread.groupby(["norm", "act_lr"]).mean().join(
        claims.groupby(["norm", "act_lr"]).agg(layer1_relu=("layer1_relu", "sum"),
                                               deeper_convergent=("deeper_convergent", "sum"),
                                               seeds=("folder", "count")))
    if out is not None:
        summary.to_csv(out / "paper_a_act_lr_summary.csv")
    parts = ["Mean spread per layer over seeds, and in how many seeds each of the paper's two claims holds (a "
             "description: no test is possible at this many seeds). Paper A's own spreads on Fashion-MNIST: "
             + ", ".join(f"{k} {v:.2f}" for k, v in paper_a_spreads(dataset).items()) + "."]
    shown = summary.reset_index()
    layers = [c for c in shown.columns if str(c).startswith("layer ")]
    holds = "claim holds in (seeds)"
    shown = shown[["norm", "act_lr", *layers, "layer1_relu", "deeper_convergent", "seeds"]].set_axis(
        pd.MultiIndex.from_tuples([("reading", ""), ("cycle-2 lr", ""), *[("mean spread", c) for c in layers],
                                   (holds, "layer 1: ReLU"), (holds, "deeper: tanh or sin"), ("seeds", "")]), axis=1)
    if shown[("reading", "")].nunique() == 1:  # one reading: said once, not in a column
        parts.append(f"Reading of eq. 9: {shown[('reading', '')].iloc[0]}.")
        shown = shown.drop(columns=[("reading", "")])
    all_a = reproduction.paper_values().query("paper == 'A' and metric.str.endswith('layer 1')", engine="python")
    paper_top1 = all_a.loc[all_a.groupby("dataset", sort=False).paper_value.idxmax()].set_index("dataset")
    top1 = (lr_weights[lr_weights.layer == "layer 1"].sort_values("p").groupby(["norm", "act_lr", "seed"]).member
            .last().groupby(level=["norm", "act_lr"]).agg(lambda m: ", ".join(f"{k} in {v}" for k, v in
                                                                              m.value_counts().items())))
    return parts + [show_table(shown, formats={("cycle-2 lr", ""): "{:g}"}, digits=3),
                    "Layer 1's largest weight, seeds counted per cycle-2 learning rate (paper A's: "
                    + ", ".join(f"{ds} {row.metric.split()[1]}" for ds, row in paper_top1.iterrows()) + "):",
                    show_table(top1.rename("layer 1's largest weight").reset_index(),
                               labels={"norm": "reading", "act_lr": "cycle-2 lr"}, formats={"act_lr": "{:g}"})]


def act_lr_differences(lr_runs: pd.DataFrame, lr_weights: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each larger cycle-2 learning rate − the smallest, paired by seed (both start from that seed's one cycle-1
    state): the spread per reading and layer, and the final and best test accuracy per reading. Each table is one
    family, Holm-corrected over its rows (:func:`mixact_lib.analysis.rank_tests.corrected_verdicts`); ``act_lr``
    values are written ``{:g}``, so ``challenger`` and ``baseline`` read "0.1" and "0.001"."""
    lrs = sorted(set(lr_runs.act_lr))
    pairs = [(f"{lrs[0]:g}", f"{v:g}") for v in lrs[1:]]
    long = layer_spreads(lr_weights).stack().rename("spread").reset_index()
    spread = paired_differences(long.assign(act_lr=long.act_lr.map("{:g}".format)), pairs, metric="spread",
                                by=["norm", "layer"], column="act_lr")
    runs = lr_runs.assign(act_lr=lr_runs.act_lr.map("{:g}".format))
    accuracy = pd.concat([paired_differences(runs, pairs, metric=m, by=["norm"], column="act_lr").assign(metric=m)
                          for m in ("final_test_acc", "best_test_acc")], ignore_index=True)
    return (rank_tests.corrected_verdicts(spread, ADJUSTMENT).assign(metric="spread"),
            rank_tests.corrected_verdicts(accuracy, ADJUSTMENT))


def corrected_table(diffs: pd.DataFrame, keys: list[str], digits: int = 4, better: str = "better",
                    words: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows of :func:`mixact_lib.analysis.rank_tests.corrected_verdicts` as a table: those of
    :func:`mixact_lib.report.verdict_tables.difference_table` with the Holm-corrected p beside the raw one and the
    family's verdict (``words`` renames it, e.g. better → wider)."""
    shown = verdict_tables.difference_table(diffs, keys, digits, better=better)
    shown.insert(shown.columns.get_loc("p") + 1, "p (Holm)", [_p_cell(p) for p in diffs.p_adjusted])
    return shown.assign(verdict=diffs.verdict.replace(words or {}).to_numpy())


def _family_counts(diffs: pd.DataFrame) -> str:
    """A family's corrected verdicts in words, and how many would pass uncorrected."""
    n = verdict_tables.difference_count_values(diffs.verdict)
    return (f"of {n['all']} comparisons, **{n['better']} better, {n['worse']} worse and {n['inconclusive']} "
            f"inconclusive** (paired by seed; the verdict follows the Holm-corrected p over the {n['all']} comparisons "
            f"shown; uncorrected, {int((diffs.p_value < 0.05).sum())} of the {n['all']} would pass at 0.05)")


def act_lr_parts(lr_runs: pd.DataFrame, lr_weights: pd.DataFrame, out: Path | None = None) -> list:
    """The learning-rate study's paired differences: spread (one Holm family) and test accuracy (another), and the
    study's answer in one sentence, from those corrected verdicts."""
    if not len(lr_runs) or lr_runs.seed.nunique() < 2:
        return []
    spread, accuracy = act_lr_differences(lr_runs, lr_weights)
    if out is not None:
        pd.concat([spread, accuracy]).to_csv(out / "paper_a_act_lr_paired.csv", index=False)
    lrs = sorted(set(lr_runs.act_lr))
    keys = ["norm"] if lr_runs.norm.nunique() > 1 else []  # one reading: no column for it
    wider = {verdict_tables.BETTER: "wider", verdict_tables.WORSE: "narrower"}
    top = spread[spread.challenger == f"{lrs[-1]:g}"]
    wide = list(top[top.verdict == verdict_tables.BETTER].layer)
    raw = list(top[(top.p_value < 0.05) & (top.diff_mean > 0)].layer)
    first = lr_weights[(lr_weights.layer == "layer 1") & (lr_weights.act_lr == lrs[-1])]
    leader = first.sort_values("p").groupby(["norm", "seed"]).member.last().value_counts()
    moved = int((accuracy.verdict != verdict_tables.OPEN).sum())
    if wide and not moved:
        answer = (" So the lost learning rate decides how far the weights travel from uniform; at this many seeds no "
                  "effect of it on accuracy can be seen, which is not the same as showing there is none.")
    elif not moved:
        answer = (" At this many seeds, each family corrected, no effect of the lost learning rate can be shown on the "
                  "spread or on accuracy, which is not the same as showing there is none.")
    else:
        answer = ""
    return [f"Spread after cycle 2, larger learning rate minus {lrs[0]:g}, per layer (paired by seed); the verdict "
            f"follows the Holm-corrected p over the {len(spread)} comparisons shown:",
            show_table(corrected_table(spread, keys + ["layer"], 3, "wider", wider), labels={"norm": "reading"}),
            "Test accuracy after cycle 2 (final and best epoch), the same pairs, a family of its own: "
            + _family_counts(accuracy) + ".",
            show_table(corrected_table(accuracy.assign(metric=accuracy.metric.map(
                {"final_test_acc": "final", "best_test_acc": "best"})), keys + ["metric"], 4),
                labels={"norm": "reading", "metric": "accuracy"}),
            f"In short: at cycle-2 lr {lrs[-1]:g} against {lrs[0]:g}, the spread is wider in "
            + (", ".join(wide) if wide else "no layer") + f" (Holm-corrected over the {len(spread)} spread comparisons"
            + (f"; uncorrected, the interval excludes 0 in {', '.join(raw)}" if raw != wide else "")
            + "); layer 1's largest weight there is "
            + ", ".join(f"{m} in {n} of {leader.sum()} seeds" for m, n in leader.items())
            + f" (paper A: ReLU); test accuracy moves detectably in {moved} of {len(accuracy)} comparisons." + answer]


def act_lr_claims(root: str | Path, dataset: str, out: Path | None = None) -> list:
    """Paper A's planned Table 1 claims at each cycle-2 learning rate (the plan's test and correction), and at how
    many rates the paper's own preference lies in what the data rule out."""
    by_lr = analysis_plan.paper_a_by_act_lr(root, dataset)
    if not len(by_lr):
        return []
    if out is not None:
        by_lr.to_csv(out / "paper_a_claims_by_act_lr.csv", index=False)
    view = plan_tables.claims_view(by_lr, ruled=True)[["claim", "verdict", "difference", "95 % CI", "adj. p",
                                                       "ruled out (one-sided 95 %)"]]
    view.insert(0, "cycle-2 lr", [f"{lr:g}" for lr in by_lr.act_lr])
    excluded = by_lr[[plan_tables.excludes_paper(r) for r in by_lr.itertuples()]]
    per_layer = excluded.groupby("claim").act_lr.nunique()
    rates = by_lr.act_lr.nunique()
    return ["Paper A's Table 1 claims at each cycle-2 learning rate, with the analysis plan's test (p_relu against "
            "1/3, Holm over the three layers), read at the study's seeds:", show_table(view),
            f"**Table 1's verdicts depend on a number the text lost.** Across the {rates} cycle-2 learning rates: "
            + plan_tables.counts_phrase(by_lr) + ". The paper's own preference lies beyond what the data allow for "
            + (", ".join(f"*{plan_tables.short_claim(c)}* at {n} of {rates} rates" for c, n in per_layer.items())
               if len(per_layer) else "no claim at any rate")
            + "; at each rate tried, these runs do not reproduce the size of those preferences."]


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
    glued = {"r_all_counts": _counts(numbers.verdict), "r_all_claims_counts": plan_tables.counts_phrase(judged),
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
