"""What the comparison chapter (``book/comparison.ipynb``) prints: the study's protocol, accuracy per activation,
the Friedman test in words, the Holm-corrected differences against ReLU and against the best fixed activation,
what a step costs, and the data of its figures.

Every function takes the study's run table (:func:`study_runs`) or what an earlier function returned, and returns a
DataFrame, a formatted table, text or figure data; the notebook shows them and writes the CSVs. The verdicts are
:func:`mixact_lib.analysis.rank_tests.versus_baseline`'s (Holm over each table's comparisons); nothing here judges.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from scipy import stats as scipy_stats

from ...activations import activation_class
from ...analysis import rank_tests
from ...analysis.results import mean_sd_table
from ...runs.config import RunConfig
from ...runs.grid import load_grid, run_study
from .. import plots, verdict_tables
from ..tables import Table, seed_list, show_table

#: the columns of :func:`rank_tests.versus_baseline`, for a comparison no seed of both sides finished
DIFFERENCE_COLUMNS = ["baseline", "challenger", "diff_mean", "diff_std", "wins", "n_seeds", "ci_low", "ci_high",
                      "p_value", "p_adjusted", "verdict"]
P_FORMATS = {"p": "{:.3f}", "p (Holm)": "{:.3f}"}


def study_runs(study: str | Path, overrides: dict, repo_root: str | Path, root: str | Path, device: str | None = None,
               train: bool = True) -> tuple[pd.DataFrame, RunConfig]:
    """The study's finished runs (training the missing ones when ``train``) and its base configuration.

    Without overrides (every value None) the runs are the sweep file's own, under its ``root`` relative to
    ``repo_root``; any override makes different runs, which go under ``root``. An error when no run has finished.
    """
    changed = any(v is not None for v in overrides.values())
    table = run_study(study, overrides=overrides, base_dir=repo_root, root=root if changed else None, device=device,
                      train=train, progress=True)
    if table.empty:
        raise RuntimeError(f"no finished runs under {table.attrs['root']}: run with train_missing=True to make them")
    base, _, _ = load_grid(study)
    return table, base


def protocol(table: pd.DataFrame, base: RunConfig) -> pd.DataFrame:
    """What the runs are, read from their own configs: dataset, model, widths, optimiser, epochs, training images,
    and how many activations, seeds and runs; one row."""
    return pd.DataFrame([{"dataset": table.dataset.iloc[0], "model": table.model.iloc[0],
                          "widths": "/".join(map(str, base.model_kwargs.get("channels", ["default"]))),
                          "optimizer": f"{table.optimizer.iloc[0]} {table.lr.iloc[0]:g}",
                          "epochs": int(table.total_epochs.iloc[0]), "train images": table.train_subset.iloc[0],
                          "activations": table.activation.nunique(), "seeds": table.seed.nunique(),
                          "runs": len(table)}])


def accuracy_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per activation: its family, the parameters it adds to the ReLU network (``extra_params``), and mean, sd and
    count over seeds of final and best test accuracy and seconds; best mean final accuracy first."""
    relu_params = table[table.activation == "relu"].num_params.iloc[0]
    table = table.assign(extra_params=table.num_params - relu_params)
    summary = mean_sd_table(table, ["activation", "extra_params"], ["final_test_acc", "best_test_acc", "total_seconds"])
    summary["family"] = [activation_class(a).family for a in summary.activation]
    return summary.sort_values("final_test_acc_mean", ascending=False).reset_index(drop=True)


def learnable_and_best_fixed(summary: pd.DataFrame) -> tuple[list[str], str]:
    """The learnable activations (those that add parameters), in :func:`accuracy_summary`'s order, and the fixed
    one with the best mean final accuracy."""
    fixed = summary[summary.extra_params == 0]
    return [a for a in summary.activation if a not in set(fixed.activation)], fixed.iloc[0].activation


def accuracy_view(summary: pd.DataFrame) -> Table:
    """:func:`accuracy_summary` as the page shows it: final and best test accuracy as mean ± sd, and the seeds."""
    return show_table(summary[["activation", "family", "extra_params", "final_test_acc_mean", "final_test_acc_std",
                               "best_test_acc_mean", "best_test_acc_std", "final_test_acc_count"]],
                      labels={"extra_params": "extra parameters"})


def friedman_sentence(ranked: dict) -> str:
    """Friedman's test and Nemenyi's critical difference (:func:`rank_tests.friedman`) in words, with the pairs
    whose average ranks differ by more than the critical difference."""
    ranks = ranked["ranks"]
    told_apart = [(a, b) for a in ranks.index for b in ranks.index if ranks[b] - ranks[a] > ranked["cd"]]
    return (f"Friedman's test over {ranked['n_blocks']} seeds and {ranked['k']} activations: χ² = "
            f"{ranked['statistic']:.1f}, p = {ranked['p_value']:.3g}. Nemenyi's critical difference is "
            f"**{ranked['cd']:.1f} ranks** of {ranked['k']}: "
            + ("the data tell apart only " + ", ".join(f"{a} from {b}" for a, b in told_apart) if told_apart else
               "no two activations are told apart")
            + f". At {ranked['n_blocks']} seeds a pair is separated only when one is near the top of every seed and "
            "the other near the bottom; the average ranks are a description of this study, not a ranking the data "
            "support.")


def friedman_glue(ranked: dict) -> dict[str, str]:
    """Friedman's p and the critical difference, as glue names → text."""
    return {"cmp_friedman_p": f"{ranked['p_value']:.3g}", "cmp_cd": f"{ranked['cd']:.1f}"}


def versus(table: pd.DataFrame, baseline: str, challengers: list[str]) -> pd.DataFrame:
    """Each challenger − ``baseline`` in final test accuracy, paired by seed, Holm-corrected over the challengers
    (:func:`rank_tests.versus_baseline`); an empty frame with its columns when no seed has both sides."""
    frame = rank_tests.versus_baseline(table[table.activation.isin([baseline, *challengers])], baseline,
                                       "final_test_acc")
    return pd.DataFrame(columns=DIFFERENCE_COLUMNS) if frame.empty else frame


def difference_view(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`versus` largest difference first: activation, mean difference, its 95 % CI as one column, p,
    Holm-adjusted p and verdict."""
    frame = frame.sort_values("diff_mean", ascending=False)
    return pd.DataFrame({"activation": frame.challenger, "Δ final test acc": [f"{d:+.4f}" for d in frame.diff_mean],
                         "95 % CI": [f"[{lo:+.4f}, {hi:+.4f}]" for lo, hi in zip(frame.ci_low, frame.ci_high)],
                         "p": frame.p_value, "p (Holm)": frame.p_adjusted, "verdict": frame.verdict})


def versus_relu_view(frame: pd.DataFrame, n_seeds: int) -> Table:
    """:func:`difference_view` of every activation against ReLU, with a note on the pairing and the correction."""
    return show_table(difference_view(frame), formats=P_FORMATS,
                      note=f"Each activation − ReLU, final test accuracy, paired by seed ({n_seeds} seeds); Holm over "
                           f"the {len(frame)} comparisons.")


def versus_best_fixed_view(frame: pd.DataFrame, best_fixed: str) -> Table:
    """:func:`difference_view` of every learnable activation against the best fixed one, with a note."""
    return show_table(difference_view(frame), formats=P_FORMATS,
                      note=f"Each learnable activation − {best_fixed}, the fixed activation with the best mean, paired "
                           f"by seed; Holm over the {len(frame)} comparisons.")


def holm_counts(frame: pd.DataFrame, what: str) -> str:
    """The verdicts of :func:`versus` in words: how many better, worse and inconclusive after Holm, and the widest
    reach of an interval."""
    n = verdict_tables.difference_count_values(frame.verdict)
    bounds = frame[["ci_low", "ci_high"]].abs().max().max() if len(frame) else float("nan")
    return (f"of {n['all']} {what}, **{n['better']} better, {n['worse']} worse and {n['inconclusive']} "
            f"inconclusive** after Holm's correction; every paired 95 % interval lies within ±{bounds:.3f}")


def counts_text(versus_relu: pd.DataFrame, versus_fixed: pd.DataFrame, best_fixed: str) -> str:
    """Two bullets: :func:`holm_counts` against ReLU and against the best fixed activation."""
    return (f"- Paired by seed against ReLU: {holm_counts(versus_relu, 'activations against ReLU')}.\n"
            f"- Paired by seed against {best_fixed}, the fixed activation with the best mean: "
            f"{holm_counts(versus_fixed, f'learnable activations against {best_fixed}')}.")


def verdicts_on_fewer_seeds(table: pd.DataFrame, names: list[str], seeds: list[int]) -> tuple[pd.DataFrame, str]:
    """Each activation − ReLU (:func:`versus`) on only ``seeds`` beside all seeds: the rows whose verdict differs
    (:func:`verdict_tables.overturned`, keyed by ``challenger``) and a sentence on them
    (:func:`verdict_tables.overturned_sentence`). Each half is Holm-corrected over its own comparisons. When
    ``seeds`` are not a strict subset of the table's, no rows, and the sentence says there is nothing to compare."""
    fewer, n_seeds = f"seeds {seed_list(seeds)}", table.seed.nunique()
    if not set(seeds) < set(table.seed):
        return (verdict_tables.overturned(pd.DataFrame(), pd.DataFrame(), ["challenger"]),
                f"No earlier verdicts to compare: `earlier_seeds` ({fewer}) are not a part of this study's "
                f"{n_seeds} seeds.")
    changed = verdict_tables.overturned(versus(table[table.seed.isin(seeds)], "relu", names),
                                        versus(table, "relu", names), ["challenger"])
    return changed, verdict_tables.overturned_sentence(changed, lambda r: f"{r.challenger} − ReLU", fewer,
                                                       f"all {n_seeds} seeds")


def summary_glue(table: pd.DataFrame, summary: pd.DataFrame, best_fixed: str) -> dict:
    """The numbers the text quotes, as glue names → values: runs, seeds, the t quantile a paired 95 % interval
    over those seeds uses (t₀.₉₇₅ with n − 1 degrees of freedom), the best fixed activation, the best mean final
    accuracy and whose it is, and ReLU's."""
    top = summary.iloc[0]
    relu = summary.set_index("activation").loc["relu"]
    n_seeds = table.seed.nunique()
    return {"cmp_n_runs": len(table), "cmp_n_seeds": n_seeds,
            "cmp_t_crit": f"{scipy_stats.t.ppf(0.975, n_seeds - 1):.2f}" if n_seeds > 1 else "undefined",
            "cmp_best_fixed": best_fixed, "cmp_top": top.activation, "cmp_top_acc": f"{top.final_test_acc_mean:.4f}",
            "cmp_relu_acc": f"{relu.final_test_acc_mean:.4f}"}


def cost_view(summary: pd.DataFrame, costs: pd.DataFrame, rounds: int, batch: int, threads: int) -> Table:
    """What a training step costs per activation (:func:`mixact_lib.studies.step_cost.step_costs`), cheapest
    first: time ÷ ReLU's (median, lowest and highest round), memory held for backward, kernels."""
    columns = ["activation", "step_ratio", "ratio_low", "ratio_high", "saved_mb", "saved_ratio", "fast_path"]
    priced = summary[["activation"]].merge(costs[columns], on="activation")
    return show_table(priced.sort_values("step_ratio")[columns],
                      labels={"step_ratio": "step time ÷ ReLU's", "ratio_low": "lowest round",
                              "ratio_high": "highest round", "saved_mb": "MB held for backward",
                              "saved_ratio": "memory ÷ ReLU's", "fast_path": "kernels"},
                      digits={"step_ratio": 2, "ratio_low": 2, "ratio_high": 2, "saved_mb": 1, "saved_ratio": 2},
                      note=measured_note(costs.attrs, rounds, batch, threads))


def measured_note(attrs: dict, rounds: int, batch: int, threads: int) -> str:
    """The cost table's caption: how it was measured, ReLU's own step time, and how loaded the machine was
    (``attrs`` of :func:`mixact_lib.studies.step_cost.step_costs`: ``relu_ms`` and the harness's ``load``).

    A ratio is measured side by side, so a steady load cancels in it, but a load that comes and goes does not:
    a reader needs ReLU's absolute time and the load beside the ratios to judge them.
    """
    note = f"Measured when this page was built: {rounds} rounds, batch {batch}, {threads} torch thread(s)."
    if "relu_ms" in attrs:
        note += f" ReLU's step: {attrs['relu_ms']:.1f} ms."
    load = attrs.get("load") or {}
    if load.get("other_cores") is not None:
        average = load.get("loadavg_1min_end")
        note += (f" Other processes held {load['other_cores']:.2f} of {load['cores']} cores meanwhile"
                 + (f" (1-minute load average {average:.2f})" if average is not None else ""))
        note += (": a loaded machine, so read the ratios as rough." if load.get("loaded") else
                 ": a quiet machine.")
    elif load:
        note += " The machine's load could not be read, so these ratios cannot count as quiet."
    return note


def accuracy_and_cost(table: pd.DataFrame, summary: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """Per activation: median and quartiles of final test accuracy over seeds, its family and its step costs."""
    accuracy = plots.median_iqr(table, "activation", "final_test_acc").merge(summary[["activation", "family"]])
    return accuracy.merge(costs, on="activation")


def pareto_figure(priced: pd.DataFrame) -> plt.Figure:
    """Accuracy against step time and against memory, each ÷ ReLU's (:func:`accuracy_and_cost`)."""
    return plots.plot_pareto(priced, [("step_ratio", "training-step time ÷ ReLU's"),
                                      ("saved_ratio", "memory held for backward ÷ ReLU's")],
                             cost_ranges={"step_ratio": ("ratio_q1", "ratio_q3")})


def learned_curves(table: pd.DataFrame, learnable: list[str]) -> pd.DataFrame:
    """Each learnable activation's learned shape per layer, from its lowest finished seed
    (:func:`mixact_lib.report.plots.learned_shape_curves`), in the order of ``learnable``."""
    folders = table[table.activation.isin(learnable)].sort_values("seed").drop_duplicates("activation")
    folders = folders.set_index("activation").folder
    return plots.learned_shape_curves([folders[a] for a in learnable if a in folders])
