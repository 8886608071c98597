"""The reproduction chapter's paper A section: Table 1 beside ours under every reading of the lost eq. 9, the planned
claims, the learned weights beside the paper's, the runs cycle by cycle, and the study of the lost learning rate of
the mixture cycle (its spreads, paired differences and claims per rate).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ....analysis import analysis_plan, rank_tests, reproduction, stats
from ....analysis.results import mean_sd_table, mixture_weights, paired_differences, phase_accuracy
from ....runs.config import paper_config
from ... import plan_tables, verdict_tables
from ...tables import show_table
from .overview import ADJUSTMENT, verdict_counts


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
        glued = {"r_a_counts": verdict_counts(first.verdict), "r_a_reading": readings[0], "r_a_numbers": len(first),
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
                     **{f"cycle {k}: 95 % CI": f"[{m['ci_low']:+.4f}, {m['ci_high']:+.4f}]"
                        for k, m in zip((2, 3), moves)}})
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
            f"{len(seeds_all)} runs, not {len(best_phase)}. Per reading, with the change in test accuracy paired by "
            "seed:",
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
    return runs, [f"This study ran cycle 2 for **{epochs} epochs** at **{len(seeds)} seeds** "
                  f"({', '.join(map(str, seeds))}); the protocol's cycle 2 runs {paper_config('a').phases[1].epochs} "
                  "epochs at 5 seeds. Each larger learning rate is paired by seed with the smallest (both start from "
                  "the same cycle-1 state), with a paired t interval; each table of such differences below is one "
                  "family, judged on its Holm-corrected p. At this many seeds only a large difference can be told "
                  "from 0."
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
    shown = verdict_tables.corrected_difference_table(diffs, keys, digits, better=better, keep_p=True)
    return shown.assign(verdict=shown.verdict.replace(words or {}))


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
