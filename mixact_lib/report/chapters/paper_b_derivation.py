"""What the chapter ``paper-b-derivation`` prints: paper B's learning-rate argument checked in function space.

The checks themselves are :mod:`mixact_lib.studies.function_space` (float64 MLPs, an adaptive network against its
plain twin W′ = aW) and :mod:`mixact_lib.studies.slopes` (the slopes the committed runs learned); this module runs
them at the chapter's parameters and turns them into the chapter's tables, figures and sentences.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ...runs.folders import collect_summaries
from ...studies import function_space as fs
from ...studies.slopes import FIXED, activation_param_trajectories, effective_rates
from ..tables import Table, show_table

SGD_FAMILY = ("sgd", "momentum", "sgd_wd")  # the optimisers whose derived rate is η·a²
TABLE5_ORDER = ("sgd", "momentum", "adagrad", "adadelta", "adam")  # paper B's Table 5 columns
STUDY_PARTS = ("tables", "optimizers", "delta_w")  # the committed study's sweep files with adaptive functions
ARELU_FUNCTIONS = ("relu", "tanh", "sigmoid")


def float64_batches(data, hidden: list[int], batch_size: int = 64) -> tuple[list[tuple], list[int]]:
    """The checks' input: ``data``'s training images flattened to float64 (so that an exact identity shows as
    rounding near 1e-16), cut into batches of ``batch_size``; and the MLP's layer sizes, input, ``hidden``,
    classes."""
    x = data.train.x.flatten(1).double()
    y = data.train.y
    batches = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return batches, [x.shape[1], *hidden, data.num_classes]


def rule_checks(batches: list[tuple], slopes: list[float], steps: int, seeds: list[int]) -> pd.DataFrame:
    """:func:`mixact_lib.studies.function_space.function_space_table` for each seed of the network
    initialisation, stacked with a ``seed`` column: every optimiser × f × a × rule."""
    return pd.concat([fs.function_space_table(batches, slopes=slopes, steps=steps, seed=seed).assign(seed=seed)
                      for seed in seeds], ignore_index=True)


def rule_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per optimiser and rule of :func:`rule_checks`: what the derivation expects (equal or differs), how
    many rows, the smallest and largest relative logit difference, the bound, and whether every row behaved."""
    return table.groupby(["optimizer", "rate_rule"], sort=False).agg(
        expected=("expected", "first"), rows=("relative_diff", "size"),
        smallest=("relative_diff", "min"), largest=("relative_diff", "max"),
        bound=("tolerance", "first"), as_expected=("as_expected", "all")).reset_index()


def rule_summary_table(table: pd.DataFrame) -> Table:
    """:func:`rule_summary` as the chapter shows it (differences in scientific notation)."""
    return show_table(rule_summary(table), labels={"rate_rule": "rule", "as_expected": "as expected"},
                      formats={"smallest": "{:.1e}", "largest": "{:.1e}", "bound": "{:.0e}"})


def rule_glue(table: pd.DataFrame, steps: int) -> dict[str, object]:
    """The numbers the paragraph after the rule table quotes (``d_*`` glue keys), from :func:`rule_checks`' rows.

    How many rows behave as predicted (and which do not); the largest difference at the derived rule for the SGD
    family and for the optimisers that divide by a gradient statistic (and where it is, and at a = 0.5, exact in
    binary); the range of the controls, of eq. 23's η·a under SGD and of "a cancels" under Adam.
    """
    derived = table[table.rate_rule == "derived"]
    controls = table[table.expected == "differs"]
    sgd_family = derived[derived.optimizer.isin(SGD_FAMILY)]
    adaptive = derived[~derived.optimizer.isin(SGD_FAMILY)]
    worst = adaptive.loc[adaptive.relative_diff.idxmax()]
    failed = table[~table.as_expected]
    paper_sgd = table[(table.optimizer == "sgd") & (table.rate_rule == "paper")].relative_diff
    adam_unchanged = table[(table.optimizer == "adam") & (table.rate_rule == "unchanged")].relative_diff
    return {"d_as_expected": int(table.as_expected.sum()), "d_rows": len(table),
            "d_failing": (" (failing: " + ", ".join(f"{r.optimizer}/{r.f}/a={r.a:g}/{r.rate_rule}"
                                                    for r in failed.itertuples()) + ")") if len(failed) else "",
            "d_sgd_family": f"{sgd_family.relative_diff.max():.1e}", "d_steps": steps,
            "d_adaptive": f"{adaptive.relative_diff.max():.1e}",
            "d_worst": f"{worst.optimizer}, {worst.f}, a = {worst.a:g}",
            "d_adaptive_half": f"{adaptive[adaptive.a == 0.5].relative_diff.max():.1e}",
            "d_control_min": f"{controls.relative_diff.min():.1e}",
            "d_control_max": f"{controls.relative_diff.max():.2f}",
            "d_paper_sgd": f"{paper_sgd.min():.1e} to {paper_sgd.max():.2f}",
            "d_adam_unchanged": f"{adam_unchanged.min():.1e} to {adam_unchanged.max():.2f}"}


def plot_rule_checks(table: pd.DataFrame) -> plt.Figure:
    """Every row of :func:`rule_checks`: its relative logit difference (log scale) per optimiser, one marker per
    rule, beside the line a control must clear."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    order = list(dict.fromkeys(table.optimizer))
    offset = {"derived": -0.2, "paper": 0.0, "unchanged": 0.0, "decay_kept": 0.2}
    for (rule, group), marker in zip(table.groupby("rate_rule"), "osD^"):
        xs = [order.index(o) + offset[rule] for o in group.optimizer]
        ax.scatter(xs, group.relative_diff.clip(lower=1e-17), marker=marker, label=rule, alpha=0.7)
    ax.axhline(fs.DIFFERS, ls="--", color="0.5", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(range(len(order)), order, rotation=30)
    ax.set_ylabel("max |logit difference| / logit scale")
    ax.legend(title="rule", fontsize=8)
    fig.tight_layout()
    return fig


def learned_slope_checks(batches: list[tuple], sizes: list[int], a: float, lrs: list[float],
                         steps: int) -> pd.DataFrame:
    """:func:`mixact_lib.studies.function_space.learned_slope_errors` for ReLU, tanh and sigmoid, each starting at
    a = 1 and at ``a``: one row per f, a and rate."""
    return pd.concat([fs.learned_slope_errors(f, start, lrs, batches, steps=steps, sizes=sizes)
                      for f in ARELU_FUNCTIONS for start in [1.0, a]], ignore_index=True)


def learned_slope_table(learned: pd.DataFrame) -> Table:
    """Per f and a of :func:`learned_slope_checks`: the first-step error ÷ η² (at the largest rate), its spread
    over the rates (max ÷ min − 1), the largest residual after the closed-form η² term, and the worst local error
    at the largest and at the smallest rate (under one header)."""
    by_rate = learned.sort_values("lr", ascending=False)
    largest, smallest = by_rate.lr.iloc[0], by_rate.lr.iloc[-1]
    compact = by_rate.groupby(["f", "a"], sort=False).agg(**{
        "first-step error / η²": ("first_step_error_over_lr2", "first"),
        "spread over the rates": ("first_step_error_over_lr2", lambda r: r.max() / r.min() - 1),
        "residual after the η² term": ("residual_after_closed_form", "max"),
        f"worst local error, η = {largest:g}": ("max_local_error", "first"),
        f"worst local error, η = {smallest:g}": ("max_local_error", "last")}).reset_index()
    compact.columns = pd.MultiIndex.from_tuples(  # the two worst local errors under one header: a narrower table
        [(c.split(", ")[0], c.split(", ")[1]) if c.startswith("worst") else (c, "") for c in compact.columns])
    return show_table(compact, formats={("a", ""): "{:g}", **{c: "{:.1e}" for c in compact.columns[2:]}})


def plot_learned_slope_error(learned: pd.DataFrame, lrs: list[float]) -> plt.Figure:
    """First-step error against the rate, log-log, one line per f and a, beside a slope-2 guide (error ∝ η²)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for (f, a), group in learned.groupby(["f", "a"]):
        ax.loglog(group.lr, group.first_step_error, marker="o", label=f"{f}, a = {a:g}")
    lr_line = pd.Series(lrs)
    ax.loglog(lr_line, learned.first_step_error.max() * (lr_line / lr_line.max()) ** 2, "k--", lw=1, label="slope 2")
    ax.set_xlabel("rate η")
    ax.set_ylabel("first-step error in w′")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def learned_slope_sentence(learned: pd.DataFrame, lrs: list[float], steps: int) -> str:
    """The learned-slope check in words: how constant error ÷ η² is over the rates, what the closed-form term
    leaves, and how the worst local error falls from the largest rate to the smallest (Markdown)."""
    spread = learned.groupby(["f", "a"]).first_step_error_over_lr2.agg(lambda r: r.max() / r.min() - 1)
    return (
        f"The first-step error divided by $\\eta^2$ varies across the {len(lrs)} rates by at most "
        f"{spread.max():.1e} (relative), so the error is exactly of order $\\eta^2$. Subtracting the closed-form term "
        f"$\\eta^2 a (w^\\top g') g'$ leaves at most {learned.residual_after_closed_form.max():.1e}, float64 rounding. "
        f"Over the {steps}-step trajectories the largest local error falls from "
        f"{learned[learned.lr == max(lrs)].max_local_error.max():.1e} at η = {max(lrs):g} to "
        f"{learned[learned.lr == min(lrs)].max_local_error.max():.1e} at η = {min(lrs):g}.")


def batchnorm_checks(batches: list[tuple], sizes: list[int], a: float, steps: int,
                     optimizers: tuple[str, ...] = ("sgd", "momentum", "adam")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Section 4's two checks at slope ``a``. BN before the activation: the relative logit difference between the
    adaptive network and its plain twin (γ′ = aγ, β′ = aβ, the derived rule) per optimiser and f. BN after the next
    layer: :func:`mixact_lib.studies.function_space.batchnorm_slope_gradients`."""
    rows = []
    for optimizer in optimizers:
        for f in ARELU_FUNCTIONS:
            out = fs.compare_function_space(f, a, optimizer, "derived", batches, steps=steps, sizes=sizes,
                                            batchnorm=True)
            rows.append({"optimizer": optimizer, "f": f, "a": a,
                         "relative_diff": out["max_abs_logit_diff"] / out["logit_scale"]})
    return pd.DataFrame(rows), fs.batchnorm_slope_gradients(batches, a=a, sizes=sizes)


def batchnorm_after_table(bn_after: pd.DataFrame) -> Table:
    """The BN-after gradients as the chapter shows them: ε for BN's epsilon, gradients in scientific notation."""
    return show_table(bn_after, formats={c: "{:.2e}" for c in bn_after.columns if c not in ("f", "a", "b")}
                      | {"a": "{:g}", "b": "{:g}"},
                      labels={c: c.replace(", BN eps=", ", ε ").replace(" (scale)", "") for c in bn_after.columns},
                      note="ε: BatchNorm's epsilon; 1e-12 stands for ε → 0. max |dL/dW|: the gradients' scale.")


def batchnorm_sentence(bn_before: pd.DataFrame, bn_after: pd.DataFrame) -> str:
    """Section 4's checks in words (Markdown): how closely the BN-before twin matches; for BN after the next layer,
    the joint sum a·∂L/∂a + b·∂L/∂b at b = 0 and at the other b, ∂L/∂a alone (the control), ∂L/∂b at b = 0, and
    ∂L/∂a for tanh and sigmoid. Gradients are read at the smallest BN ε of ``bn_after``."""
    eps_cols = [c for c in bn_after.columns if c.startswith("dL/da")]
    joint_col = next(c for c in bn_after.columns if c.startswith("a·dL/da"))
    db_col = next(c for c in bn_after.columns if c.startswith("dL/db"))
    relu = bn_after[bn_after.f == "relu"].set_index("b")
    b_zero, b_other = relu.loc[0.0], relu.loc[relu.index.max()]
    by_f = bn_after.set_index("f")
    return (
        f"BN before the activation: the plain network with $\\gamma' = a\\gamma$, $\\beta' = a\\beta$ (and the "
        f"derived rates for them only) matches the adaptive one to {bn_before.relative_diff.max():.1e} of the logit "
        f"scale, for SGD, momentum and Adam with ReLU, tanh and sigmoid. Here the slope is redundant with BN's "
        f"affine parameters. BN after the next layer, AReLU with $c = d = 0$: the joint sum "
        f"$a\\,\\partial L/\\partial a + b\\,\\partial L/\\partial b$ is {b_zero[joint_col]:.1e} at $b = 0$ and "
        f"{b_other[joint_col]:.1e} at $b = {relu.index.max():g}$ (as BN's $\\epsilon \\to 0$). "
        f"$\\partial L/\\partial a$ alone is {b_zero[eps_cols[0]]:.1e} at $b = 0$ but {b_other[eps_cols[0]]:.1e} at "
        f"$b = {relu.index.max():g}$ (the control: '$\\partial L/\\partial a = 0$' is not the rule), and "
        f"$\\partial L/\\partial b$ is {b_zero[db_col]:.1e} even at $b = 0$. For tanh and sigmoid "
        f"$\\partial L/\\partial a$ is {by_f.loc['tanh', eps_cols[0]]:.1e} and "
        f"{by_f.loc['sigmoid', eps_cols[0]]:.1e}.")


def _setting_key(setting: str) -> tuple[int, float]:
    optimizer, lr = setting.split()
    return TABLE5_ORDER.index(optimizer), float(lr)


def committed_slopes(study_root: str | Path, parts: tuple[str, ...] = STUDY_PARTS) -> pd.DataFrame:
    """Every ASigmoid, ATanh and AReLU site of the committed paper B study, per epoch, with the rate its slope
    implies under the run's own optimiser and learning rate (:func:`mixact_lib.studies.slopes.effective_rates`).

    Adds ``part`` (the sweep file) and ``setting`` ("optimizer lr"); rows sorted by setting in Table 5's order of
    optimisers, then by rate. Raises FileNotFoundError when ``study_root`` holds no such run.
    """
    study_dir = Path(study_root)
    runs = [collect_summaries(study_dir / part).assign(part=part) for part in parts]
    runs = pd.concat([r for r in runs if len(r)], ignore_index=True) if any(len(r) for r in runs) else pd.DataFrame()
    runs = runs[runs.activation.isin(list(FIXED))] if len(runs) else runs
    if runs.empty:
        raise FileNotFoundError(f"no ASigmoid, ATanh or AReLU runs under {study_dir}: is the committed study there?")
    runs = runs.assign(setting=[f"{o} {lr:g}" for o, lr in zip(runs.optimizer, runs.lr)])
    order = sorted(dict.fromkeys(runs.setting), key=_setting_key)
    rates = effective_rates(activation_param_trajectories(runs.folder))
    rates = rates.merge(runs[["folder", "part", "setting"]], on="folder")
    return rates.sort_values("setting", key=lambda s: s.map(order.index), kind="stable")


def committed_slopes_count(rates: pd.DataFrame) -> str:
    """How many runs and activation sites :func:`committed_slopes` read."""
    return (f"{rates.folder.nunique()} runs with an adaptive function, "
            f"{len(rates.drop_duplicates(['folder', 'site']))} activation sites")


def committed_slopes_sentence(rates: pd.DataFrame) -> str:
    """Section 6 in words (Markdown), from the last epoch of every run of :func:`committed_slopes`: the range of
    the learned a, the share of sites within 5 % and 20 % of 1, how often the site that moved furthest is the
    run's last, the implied rate ratios under a² (SGD, Momentum) and |a| (AdaGrad, Adam), the largest factor and
    the share of sites within 10 % of the plain layer's rate."""
    final = rates[rates.epoch == rates.groupby("folder").epoch.transform("max")]
    moved = (final.a - 1).abs()
    squared = final[final.rule == "lr·a²"].rate_ratio
    linear = final[final.rule == "lr·|a|"].rate_ratio
    furthest = final.loc[moved.groupby(final.folder).idxmax()]  # per run, the site furthest from a = 1
    furthest_last = (furthest.layer_index == furthest.folder.map(final.groupby("folder").layer_index.max())).mean()
    largest = max(final.rate_ratio.max(), 1 / final.rate_ratio.min())
    near = ((final.rate_ratio - 1).abs() < 0.1)[final.rate_ratio.notna()].mean()
    return (
        f"In the {final.folder.nunique()} committed runs with an adaptive function ({len(final)} sites), "
        f"the learned $a$ ended between {final.a.min():.2f} and {final.a.max():.2f}; "
        f"{(moved < 0.05).mean():.0%} of the sites ended within 5% of 1 and {(moved < 0.2).mean():.0%} within 20%, "
        f"and in {furthest_last:.0%} of the runs the site that moved furthest is the last one. "
        f"The implied rate of the layer in front of a site therefore ended between {squared.min():.2f} and "
        f"{squared.max():.2f} times the plain layer's under SGD and Momentum ($a^2$, median {squared.median():.2f}), "
        + (f"and between {linear.min():.2f} and {linear.max():.2f} times under AdaGrad and Adam ($|a|$, median "
           f"{linear.median():.2f}), " if len(linear) else "")
        + f"with no single rate under AdaDelta. In these runs the slope changed the effective rate by at most a factor "
        f"{largest:.2f}, and by less than 10% at {near:.0%} of the sites; each learning-rate step changes it by a "
        "factor 10.")
