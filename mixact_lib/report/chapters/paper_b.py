"""What the chapter ``paper-b`` prints: paper B's adaptive functions against the baselines, in the reduced CPU study.

The runs come from the study's sweep files (:func:`study_reader`); the numbers from :mod:`mixact_lib.analysis`
(paired differences, corrected verdicts) and :mod:`mixact_lib.studies.slopes` (learned slopes, Δw); this module
puts them into the chapter's tables, figures and sentences. Every table of several paired differences is one
family: its p is corrected over its rows (:func:`mixact_lib.analysis.rank_tests.corrected_verdicts`; Holm, or
Benjamini–Hochberg where the analysis plan says so) and its verdicts and counts follow the corrected p.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import pandas as pd

from ...analysis.rank_tests import corrected_verdicts
from ...analysis.results import paired_differences
from ...runs.grid import run_study
from ...studies import slopes
from ..plots import plot_curves
from ..tables import Table, mean_sd, show_table
from ..verdict_tables import (BETTER, OPEN, WORSE, beside_table5, corrected_counts, difference_count_values, p_cell,
                              tested_verdicts)

#: the chapter's order of activations: each fixed function before its adaptive version, then the baselines
ACTIVATIONS = ("sigmoid", "asigmoid", "tanh", "atanh", "relu", "lrelu", "arelu", "prelu", "swish_beta", "pelu",
               "frelu")
#: (fixed, adaptive): paper B's three functions, eqs. 10–12
PAIRS = [("sigmoid", "asigmoid"), ("tanh", "atanh"), ("relu", "arelu")]
TABLE5_ORDER = ("sgd", "momentum", "adagrad", "adadelta", "adam")  # paper B's Table 5 columns
ALPHA = 0.05
NOTHING_YET = "*No {} have finished yet: nothing to show here.*"


def study_reader(study: str | Path, base_dir: str | Path, results: str | Path, device: str, train: bool,
                 **overrides) -> Callable[..., pd.DataFrame]:
    """A function ``read(part, required=False)``: the summaries of the sweep file ``<study>/<part>.yaml``, read back
    and trained where missing (:func:`mixact_lib.run_study`; ``train=False`` trains nothing).

    ``overrides`` (e.g. ``seed=[0, 1]``, ``epochs=20``; ``None`` values ignored) change the runs, which then go
    under ``<results>/runs/<part>`` instead of the study's own folder. A part whose sweep file is absent reads as
    an empty table; ``required=True`` raises when the part has no finished run.
    """
    changed = any(v is not None for v in overrides.values())

    def read(part: str, required: bool = False) -> pd.DataFrame:
        path = Path(study) / f"{part}.yaml"
        if not path.exists() and not required:
            return pd.DataFrame()
        table = run_study(path, overrides=overrides, base_dir=base_dir, device=device, train=train, progress=True,
                          root=Path(results) / "runs" / part if changed else None)
        if required and table.empty:
            raise RuntimeError(f"no finished runs under {table.attrs['root']}: run with train_missing=True to make "
                               "them")
        return table
    return read


def protocol_table(parts: dict[str, pd.DataFrame]) -> Table:
    """What was read, one row per part of the study (``{"Tables 1-2": summaries, ...}``, empty parts left out):
    dataset, models, optimisers, first learning rates, epochs, training images, seeds and runs, from the runs'
    own configs."""
    protocol = pd.concat([t.assign(part=part) for part, t in parts.items() if not t.empty])
    protocol = protocol.groupby("part", sort=False).agg(
        dataset=("dataset", "first"), models=("model", lambda m: ", ".join(dict.fromkeys(m))),
        optimizers=("optimizer", lambda o: ", ".join(dict.fromkeys(o))),
        first_lr=("lr", lambda v: ", ".join(f"{x:g}" for x in dict.fromkeys(v))),
        epochs=("total_epochs", "first"), train_images=("train_subset", "first"),
        seeds=("seed", "nunique"), runs=("seed", "size"))
    return show_table(protocol, index=True, labels={"first_lr": "first lr", "train_images": "train images"})


def accuracy_beside_paper(summary: pd.DataFrame, paper: pd.DataFrame) -> Table:
    """Final test accuracy, mean ± sd per activation (rows, :data:`ACTIVATIONS` order) and model (columns), beside
    paper B's CIFAR-10 value of the same cell (Tables 1 and 2; – where it gives none).

    ``summary`` is :func:`mixact_lib.mean_sd_table` of the runs by model and activation; ``paper`` is
    :func:`mixact_lib.paper_values`.
    """
    activations = [a for a in ACTIVATIONS if a in set(summary.activation)]
    models = list(dict.fromkeys(summary.model))
    ours = summary.assign(ours=[mean_sd(m, s) for m, s in zip(summary.final_test_acc_mean, summary.final_test_acc_std)])
    ours = ours.pivot(index="activation", columns="model", values="ours").loc[activations, models]
    paper = paper.query("paper == 'B' and table in ['Table 1', 'Table 2'] and dataset == 'cifar10'")
    paper = paper.pivot_table(index="activation", columns="model", values="paper_value", aggfunc="first")
    side = pd.concat({"ours (this study)": ours, "paper B, CIFAR-10": paper.reindex(index=activations, columns=models)},
                     axis=1)
    return show_table(side, index=True, formats={c: "{:g}" for c in side.columns if c[0].startswith("paper")})


def adaptive_vs_fixed(table: pd.DataFrame) -> pd.DataFrame:
    """Adaptive − fixed final test accuracy per model and pair (:data:`PAIRS`), paired by seed, as one family:
    p Benjamini–Hochberg-adjusted over the cells, verdict by the adjusted p (the analysis plan's family
    ``paper_b_adaptive_vs_fixed``, whose rows of ``results/claims.csv`` it reproduces on the committed runs)."""
    return corrected_verdicts(paired_differences(table, PAIRS, "final_test_acc"), "bh", ALPHA)


def adaptive_vs_fixed_sentence(diffs: pd.DataFrame, summary: pd.DataFrame) -> str:
    """:func:`adaptive_vs_fixed` counted (:func:`mixact_lib.report.verdict_tables.corrected_counts`), then, as a
    description of the means only, AReLU's rank per model and the best mean per model (``summary``:
    :func:`mixact_lib.mean_sd_table` by model and activation)."""
    ranks = summary.assign(rank=summary.groupby("model").final_test_acc_mean.rank(ascending=False).astype(int))
    arelu_rank = ranks[ranks.activation == "arelu"].set_index("model")["rank"]
    best = summary.loc[summary.groupby("model").final_test_acc_mean.idxmax()].set_index("model").activation
    return ("Adaptive against fixed, " +
            corrected_counts(diffs, "model × pair cells", "Benjamini–Hochberg-adjusted") +
            ". As a description of the means only (not a test), AReLU ranked " +
            ", ".join(f"{arelu_rank[m]} of {(summary.model == m).sum()} on {m}" for m in arelu_rank.index) +
            "; the best mean per model was " + ", ".join(f"{best[m]} ({m})" for m in best.index) + ".")


def loss_curves(histories: pd.DataFrame) -> tuple[plt.Figure, pd.DataFrame]:
    """Training loss per epoch of the fixed and adaptive sigmoid, tanh and ReLU (colour: function, line: fixed or
    adaptive), one panel per model; and the per-epoch data behind it (every activation)."""
    fixed_and_adaptive = [f for pair in PAIRS for f in pair]
    curves = histories[histories.activation.isin(fixed_and_adaptive)].copy()
    curves["function"] = curves.activation.str.removeprefix("a").map({"sigmoid": "sigmoid", "tanh": "tanh",
                                                                      "relu": "ReLU"})
    curves["version"] = ["adaptive" if a.startswith("a") else "fixed" for a in curves.activation]
    fig = plot_curves(curves, y="train_loss", hue="function", style="version", style_order=["fixed", "adaptive"],
                      col="model", ylabel="training loss")
    return fig, histories[["model", "activation", "seed", "epoch", "train_loss", "test_acc"]]


def area_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """Adaptive − fixed convergence area (sum of the epoch losses; smaller is faster) per model and pair, paired
    by seed, as one family: p Holm-corrected over the rows, *better* a smaller area with corrected p < 0.05."""
    area = paired_differences(table, PAIRS, "convergence_area", higher_is_better=False)
    return corrected_verdicts(area, "holm", ALPHA, higher_is_better=False)


def first_lr_step(runs: pd.DataFrame) -> int:
    """The epochs of the first learning-rate step (a third of the shortest run, at least 1)."""
    return runs.groupby("activation").total_epochs.first().min() // 3 or 1


_LARGER = {BETTER: "AReLU larger", WORSE: "ReLU larger", OPEN: OPEN}


def early_increments_intro(pairs: pd.DataFrame, first_step: int) -> str:
    """The sentence before :func:`early_increments_table` (Markdown): the window, seeds and test of
    :func:`mixact_lib.studies.slopes.early_increments`."""
    return (f"Over the first {first_step} epoch(s) (the first lr step), paired by seed ({pairs.n_seeds.min()} seeds, "
            f"95 % CI of a paired t-test; the verdict follows its p, Holm-corrected over the {len(pairs)} layers). "
            "Paper B's reading is that the raw ratio AReLU ÷ ReLU is above 1:")


def early_increments_table(ratio: pd.DataFrame, pairs: pd.DataFrame) -> Table:
    """One row per layer of :func:`mixact_lib.studies.slopes.early_increments`: the raw ratio (mean, range over
    seeds), the relative difference (mean, 95 % CI, Holm-corrected p, verdict: AReLU larger / ReLU larger /
    inconclusive) and ReLU's own relative increment."""
    by_layer = pairs.set_index("layer").reindex(ratio.index)  # one row per layer, as in the figures
    raw, relative = "‖ΔW‖, AReLU ÷ ReLU", "‖ΔW‖/‖W‖, AReLU − ReLU"
    return show_table(pd.DataFrame({
        ("layer", ""): [name.split(" (")[0] for name in ratio.index],
        (raw, "mean"): [f"{v:.2f}" for v in ratio["mean"]],
        (raw, "seeds"): [f"{lo:.2f} to {hi:.2f}" for lo, hi in zip(ratio["min"], ratio["max"])],
        (relative, "mean"): [f"{v:+.3f}" for v in by_layer.diff_mean],
        (relative, "95 % CI"): [f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(by_layer.ci_low, by_layer.ci_high)],
        (relative, "p (Holm)"): [p_cell(p) for p in by_layer.p_adjusted],
        (relative, "verdict"): [_LARGER[v] for v in by_layer.verdict],
        ("ReLU's ‖ΔW‖/‖W‖", ""): [f"{v:.3f}" for v in by_layer.relu_level]}))


def early_increments_sentence(pairs: pd.DataFrame) -> str:
    """:func:`mixact_lib.studies.slopes.early_increments`' relative comparison in words (Markdown): in how many
    layers the corrected p decides it, and which way."""
    decided = pairs[pairs.verdict != OPEN]
    text = (f"On the relative measure the comparison is inconclusive in all {len(pairs)} layers." if decided.empty else
            f"The Holm-corrected p is below {ALPHA:g} in {len(decided)} of {len(pairs)} layers (" +
            ", ".join(f"{r.layer}: {_LARGER[r.verdict]}" for r in decided.itertuples()) + ")" +
            (", and the comparison is inconclusive in the others." if len(decided) < len(pairs) else "."))
    return (text + f" With {pairs.n_seeds.min()} seeds the t-interval is wide; a larger increment would in any case "
            "say how fast the weights moved, not how fast the network learned.")


def learned_slopes_sentence(trajectories: pd.DataFrame, histories: pd.DataFrame) -> str:
    """Where the slopes a ended (Markdown): their range, the share within 5 % of 1, the median |a − 1| per
    function, the site that moved furthest, and the rate a implies for the layer in front of each site under
    the runs' optimiser in the last epoch (:func:`mixact_lib.studies.slopes.effective_rates`)."""
    final_a = trajectories[trajectories.epoch == trajectories.groupby("folder").epoch.transform("max")]
    final_rates = slopes.effective_rates(final_a, histories)
    moved = (final_a.a - 1).abs()
    far = final_a.loc[moved.idxmax()]
    by_fn = final_a.assign(moved=moved).groupby("activation").moved.median()
    rules = ", ".join(dict.fromkeys(f"{o} ({rule})" for o, rule in zip(final_rates.optimizer, final_rates.rule)))
    return (
        f"After {final_a.epoch.max()} epochs the {len(final_a)} adaptive sites ({final_a.folder.nunique()} runs) ended "
        f"with a between {final_a.a.min():.2f} and {final_a.a.max():.2f}; {(moved < 0.05).mean():.0%} of them within "
        "5% of 1 (median |a − 1|: " + ", ".join(f"{fn} {v:.3f}" for fn, v in by_fn.items()) + "). The furthest is "
        f"{far.layer} of {far.model} with {far.activation} ({far.site}), a = {far.a:.2f}. Under these runs' "
        f"optimiser, {rules}, the layer in front of a site therefore trained at {final_rates.rate_ratio.min():.2f} to "
        f"{final_rates.rate_ratio.max():.2f} times the rate of the same layer with a fixed activation in the last "
        f"epoch (median {final_rates.rate_ratio.median():.2f}), by the reading of {{ref}}`paper-b-derivation`.")


def abcd_table(learned: pd.DataFrame) -> Table:
    """Per model and function of :func:`mixact_lib.studies.slopes.learned_abcd`: each of a, b, c, d as
    "mean [min, max]" over sites and seeds."""
    summary = learned.groupby(["model", "activation"])[list("abcd")].agg(["mean", "min", "max"])
    shown = "mean [min, max] over sites and seeds"
    return show_table(pd.DataFrame({(shown, p): [f"{r[(p, 'mean')]:.2f} [{r[(p, 'min')]:.2f}, {r[(p, 'max')]:.2f}]"
                                                 for _, r in summary.iterrows()] for p in "abcd"},
                                   index=summary.index), index=True)


UNMOVED_LABELS = {"site_runs": "sites × seeds", "b_unmoved": "b within 0.01 of 1", "d_unmoved": "d within 0.01 of 0"}


def with_setting(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``setting``: the optimiser and its first learning rate, e.g. ``momentum 0.01``."""
    return runs.assign(setting=[f"{o} {lr:g}" for o, lr in zip(runs.optimizer, runs.lr)])


def setting_order(settings) -> list[str]:
    """The distinct settings in Table 5's order of optimisers (others last), then by name."""
    return sorted(dict.fromkeys(settings), key=lambda k: (TABLE5_ORDER.index(k.split()[0])
                                                          if k.split()[0] in TABLE5_ORDER else 99, k))


def optimizer_table(stats: pd.DataFrame) -> Table:
    """Final test accuracy mean ± sd, one row per activation, one column per setting in :func:`setting_order`
    (``stats``: :func:`mixact_lib.mean_sd_table` by activation and setting)."""
    view = stats.assign(acc=[mean_sd(m, s) for m, s in zip(stats.final_test_acc_mean, stats.final_test_acc_std)])
    return show_table(view.pivot(index="activation", columns="setting", values="acc")[setting_order(stats.setting)],
                      index=True)


def versus_relu(runs: pd.DataFrame) -> pd.DataFrame:
    """Every activation − ReLU final test accuracy per setting, paired by seed (uncorrected; the rows the chapter
    shows are corrected in :func:`arelu_vs_relu`)."""
    others = [a for a in dict.fromkeys(runs.activation) if a != "relu"]
    return paired_differences(runs, [("relu", a) for a in others], "final_test_acc", by="setting")


def arelu_vs_relu(pairs: pd.DataFrame) -> pd.DataFrame:
    """The AReLU − ReLU rows of :func:`versus_relu`, one family: p Holm-corrected over the settings."""
    return corrected_verdicts(pairs[pairs.challenger == "arelu"] if len(pairs) else pairs, "holm", ALPHA)


def optimizer_sentence(arelu_vs: pd.DataFrame, stats: pd.DataFrame) -> str:
    """:func:`arelu_vs_relu` counted (:func:`mixact_lib.report.verdict_tables.corrected_counts`) and the best mean
    per setting (a description)."""
    best = stats.loc[stats.groupby("setting").final_test_acc_mean.idxmax()].set_index("setting").activation
    return ("AReLU against ReLU, " + corrected_counts(arelu_vs, "optimiser settings") +
            ". Best mean per optimiser (a description, not a test): " +
            ", ".join(f"{o}: {best[o]}" for o in setting_order(stats.setting)) + ".")


TWIN_KEYS = ["model", "activation", "seed", "optimizer", "lr", "total_epochs", "train_subset"]


def repeatability_sentence(runs: pd.DataFrame, other: pd.DataFrame) -> str | None:
    """How far apart the final test accuracies of runs with the same configuration in two parts of the study are
    (seeded and deterministic on the CPU, so 0); None when no configuration is in both."""
    twins = runs.merge(other, on=TWIN_KEYS, suffixes=("", "_twin"))
    if not len(twins):
        return None
    gap = (twins.final_test_acc - twins.final_test_acc_twin).abs().max()
    return (f"Repeatability: {len(twins)} runs of this table have an identical configuration in the Tables 1–2 "
            f"part, trained separately; their final test accuracies differ by at most {gap:.4f}.")


def arelu_rates(runs: pd.DataFrame) -> pd.DataFrame:
    """The rate AReLU's slopes imply per site and epoch (:func:`mixact_lib.studies.slopes.effective_rates`) in the
    AReLU runs of ``runs`` (with :func:`with_setting`), with their setting, in :func:`setting_order`."""
    arelu = runs[runs.activation == "arelu"]
    rates = slopes.effective_rates(slopes.activation_param_trajectories(arelu.folder))
    rates["setting"] = rates.folder.map(dict(zip(arelu.folder, arelu.setting)))
    order = setting_order(runs.setting)
    return rates.sort_values("setting", key=lambda s: s.map(order.index), kind="stable")


def arelu_rates_sentence(rates: pd.DataFrame) -> str:
    """The last epoch of :func:`arelu_rates` in words (Markdown): the implied rate's range per setting and the
    largest factor away from the plain layer's, against the learning-rate step's 10."""
    last = rates[rates.epoch == rates.epoch.max()]
    spread = last.dropna(subset=["rate_ratio"]).groupby("setting", sort=False).rate_ratio.agg(["min", "max"])
    return ("In the last epoch, AReLU's slopes put the implied rate of the layer in front of each site at " +
            "; ".join(f"{s}: {r['min']:.2f}–{r['max']:.2f} × lr" for s, r in spread.iterrows()) +
            (" (AdaDelta: no single rate)" if last.rate_ratio.isna().any() else "") +
            f". Across these settings that is at most a factor {max(spread['max'].max(), 1 / spread['min'].min()):.2f} "
            "away from the plain layer's rate, against the factor 10 of each learning-rate step.")


def table5(authors: pd.DataFrame, customary: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Paper B's Table 5 (ResNet, CIFAR-10) beside the authors'-schedule study and the customary-rates study
    (:func:`mixact_lib.report.verdict_tables.beside_table5`); plain SGD at 1e-3 is left out of the customary
    study, so that it has one rate per optimiser."""
    customary = customary.query("not (optimizer == 'sgd' and lr == 0.001)")
    return beside_table5({"authors_schedule": authors, "customary_rates": customary}, paper)


def table5_view(frame: pd.DataFrame) -> Table:
    """:func:`table5` as the chapter shows it, with a note on the three columns."""
    return show_table(frame, digits={"paper_resnet_cifar10": 4}, labels={
        "authors_schedule_mean": "authors' schedule", "customary_rates_mean": "customary rates",
        "paper_resnet_cifar10": "paper B"}, note="Authors' schedule: every optimiser at 1e-3, stepped at 47 % and "
        "67 % of the epochs. Customary rates: each optimiser's usual rate, equal thirds. Paper B: its Table 5, "
        "ResNet on CIFAR-10.")


def arelu_vs_others(runs: pd.DataFrame) -> pd.DataFrame:
    """AReLU − each other activation per optimiser, paired by seed, one family over every optimiser × activation:
    p Holm-corrected, the verdict by it."""
    others = [a for a in dict.fromkeys(runs.activation) if a != "arelu"]
    pairs = paired_differences(runs, [(a, "arelu") for a in others], "final_test_acc", by="optimizer")
    return corrected_verdicts(pairs, "holm", ALPHA)


def authors_schedule_sentence(pairs: pd.DataFrame, n_seeds: int) -> str:
    """:func:`arelu_vs_others` counted (Markdown): the corrected verdicts, the smallest corrected p, how many would
    pass uncorrected, paper B's claim, and under how many optimisers AReLU's mean is below PReLU's."""
    n = difference_count_values(tested_verdicts(pairs))
    versus_prelu = pairs[pairs.baseline == "prelu"]
    return (f"AReLU against each other activation under the authors' schedule, paired by seed and Holm-corrected over "
            f"all {n['all']} comparisons: **{n[BETTER]} better, {n[WORSE]} worse and {n[OPEN]} inconclusive** (the "
            "smallest corrected p is " + p_cell(pairs.p_adjusted.min()) +
            f"; uncorrected, {int((pairs.p_value < ALPHA).sum())} of the {n['all']} would pass at {ALPHA:g}). Paper B "
            "(§5.4): AReLU surpasses the other activations under every optimiser, with two exceptions; at "
            f"{n_seeds} seeds these runs cannot confirm that. AReLU's mean is below PReLU's under "
            f"{int((versus_prelu.diff_mean < 0).sum())} of the {len(versus_prelu)} optimisers.")


AUTHORS_START = "arelu, authors' start"


def arelu_starts(runs: pd.DataFrame, authors: pd.DataFrame) -> pd.DataFrame:
    """ReLU and AReLU (ReLU start) of ``runs`` with the AReLU runs from the authors' start, renamed
    :data:`AUTHORS_START`."""
    return pd.concat([runs[runs.activation.isin(["relu", "arelu"])], authors.assign(activation=AUTHORS_START)])


def start_pairs(starts: pd.DataFrame) -> pd.DataFrame:
    """AReLU from the authors' start − AReLU from the ReLU start, and − ReLU, per model, paired by seed, one family:
    p Holm-corrected over the rows."""
    pairs = paired_differences(starts, [("arelu", AUTHORS_START), ("relu", AUTHORS_START)], "final_test_acc",
                               by="model")
    return corrected_verdicts(pairs, "holm", ALPHA)


def branch_gaps_table(runs: pd.DataFrame, authors: pd.DataFrame) -> Table:
    """How far AReLU's two branches are apart after the last epoch (:func:`mixact_lib.studies.slopes.branch_gaps`),
    from the authors' start and from the ReLU start, per model."""
    gaps = {name: slopes.branch_gaps(slopes.activation_param_trajectories(r.folder))
            for name, r in [("authors' start", authors), ("ReLU start", runs[runs.activation == "arelu"])]}
    return show_table(pd.concat([g.assign(start=name) for name, g in gaps.items()]).set_index(["start", "model"]),
                      index=True, labels={"share_near_linear": "share within 0.01 of linear"})

