"""The reproduction chapter's paper C section: Table 1 beside ours, the ordering claims and their power, what choosing
the epoch on the test set adds, best against final epoch, each network's cost, the matched-compute controls, and what
AdAct learns for x < 0 against Optimized's PReLU α.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ....analysis import analysis_plan, rank_tests, reproduction
from ....analysis.results import mean_sd_table
from ....studies import adact_shapes
from ... import plan_tables, verdict_tables
from ...tables import show_table
from ...verdict_tables import p_cell
from .overview import ADJUSTMENT, DOES_NOT, INCONCLUSIVE, REPLICATES, paper_c_gaps, verdict_counts


def paper_c_numbers(table: pd.DataFrame) -> tuple[list, dict]:
    """Paper C's Table 1 beside ours: the tested numbers with their verdicts, a summary per verdict, the
    untestable ones with the reason; glued: the counts the prose quotes (``r_c_*``), each number counted once."""
    rows = table[table.paper == "C"]
    tested, untested = rows[rows.n_seeds > 0], rows[rows.n_seeds == 0]
    counted = tested[tested.role == "primary"]  # one row per paper number: the paper's own metric
    counts = counted.verdict.value_counts()
    glued = {f"r_c_{key}": int(counts.get(verdict, 0))
             for key, verdict in (("replicates", REPLICATES), ("not", DOES_NOT), ("open", INCONCLUSIVE))}
    glued |= {"r_c_tested": len(counted), "r_c_counts": verdict_counts(counted.verdict), "r_c_untested": len(untested)}
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
        return ["No validation-split runs are committed yet: "
                "`python tools/reproduce.py --paper c --seeds 0 1 2 --val`."]
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
        "seconds": "seconds: median (range)", "time_vs_relu": "median ÷ ReLU's",
        "best_test_acc": "best test acc (mean)", "final_test_acc": "final test acc (mean)"},
        formats={"time_vs_relu": "{:.1f}"},
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
                    (name, "p (Holm)"): p_cell(r.p_adjusted), (name, "verdict"): r.verdict}
        rows.append(row)
    layer_means = neg.groupby("layer").effective_slope.mean()
    alphas = neg.optimized_prelu_slope.dropna()
    parts = [show_table(view, labels={"optimized_prelu_slope": "Optimized PReLU α"}),
             f"AdAct's effective slope is negative in {int((neg.effective_slope < 0).sum())} of {len(neg)} layers × "
             f"seeds (layer means {layer_means.min():+.3f} to {layer_means.max():+.3f}); Optimized's PReLU learns α "
             f"from {alphas.min():+.3f} to {alphas.max():+.3f} in the {len(alphas)} layers × seeds where it is "
             "chosen. " + (f"Paired by seed, layer by layer (AdAct − Optimized); the verdict follows the "
                           f"Holm-corrected p over the {len(slope_diffs)} comparisons shown:" if rows else
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
