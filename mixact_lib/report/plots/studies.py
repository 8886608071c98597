"""Figures of a study's runs: curves, bars, scatter, per-layer heat maps, effective rates, loss landscapes."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import TwoSlopeNorm
from matplotlib.ticker import LogLocator, MaxNLocator

from .common import _panels, _legend_below


def plot_layer_heatmaps(frame: pd.DataFrame, value: str = "a", row: str | None = None, col: str | None = None,
                        center: float = 1.0, label: str | None = None, col_wrap: int | None = None,
                        title: str = "") -> plt.Figure:
    """``value`` per layer (y, layer 1 at the top) and epoch (x), mean over seeds, one panel per row × col.

    A diverging colour scale centred on ``center`` (a = 1: the fixed function's slope) with the same
    range in every panel, so any depth of network stays one readable panel.
    """
    keys = [k for k in (row, col) if k]
    mean = frame.groupby(keys + ["layer_index", "epoch"], sort=False)[value].mean().reset_index()
    span = float(np.nanmax(np.abs(mean[value] - center))) or 1e-3
    norm = TwoSlopeNorm(vcenter=center, vmin=center - span, vmax=center + span)
    fig, panels = _panels(mean, row, col, (2.6, 2.6), col_wrap)
    image = None
    for ax, d, name, bottom, left in panels:
        grid = d.pivot(index="layer_index", columns="epoch", values=value).sort_index()
        e, n = grid.columns, grid.index
        image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest",
                          extent=(e.min() - 0.5, e.max() + 0.5, n.max() + 0.5, n.min() - 0.5))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(False)
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("epoch" if bottom else "")
        ax.set_ylabel("layer" if left else "")
    if image is not None:
        fig.colorbar(image, ax=[p[0] for p in panels], label=label or value, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def plot_effective_rates(rates: pd.DataFrame, col: str | None = "optimizer", row: str | None = None,
                         y: str = "rate_ratio", col_wrap: int | None = None, title: str = "") -> plt.Figure:
    """The rate an adaptive activation's slope implies for the layer in front of it, against the plain layer's.

    ``rates`` is :func:`mixact_lib.studies.slopes.effective_rates`'s table. ``y="rate_ratio"`` plots
    |a|^p = effective rate ÷ lr, where the same layer with a fixed activation sits at 1 (dashed);
    ``y="effective_lr"`` plots lr·|a|^p itself against the run's lr (dashed). Over all sites and
    seeds of a panel: median (line), middle half and full range (bands). Panels whose optimiser has
    no single rate (AdaDelta) say so.
    """
    fig, panels = _panels(rates, row, col, (3.0, 2.6), col_wrap)
    for ax, d, name, bottom, left in panels:
        plain = d.groupby("epoch").lr.first() if y == "effective_lr" else d.groupby("epoch").lr.first() * 0 + 1
        ax.plot(plain.index, plain.values, color="black", ls="--", lw=1.2, label="fixed activation")
        values = d.groupby("epoch")[y]
        stats = pd.DataFrame({"min": values.min(), "q1": values.quantile(0.25), "median": values.median(),
                              "q3": values.quantile(0.75), "max": values.max()})
        if stats["median"].notna().any():
            ax.fill_between(stats.index, stats["min"], stats["max"], color="tab:red", alpha=0.15, lw=0,
                            label="adaptive: all sites and seeds")
            ax.fill_between(stats.index, stats["q1"], stats["q3"], color="tab:red", alpha=0.35, lw=0,
                            label="adaptive: middle half")
            ax.plot(stats.index, stats["median"], color="tab:red", marker="o", ms=3, label="adaptive: median")
        else:
            ax.text(0.5, 0.25, "its ε's rescale instead", transform=ax.transAxes, ha="center", va="center",
                    color="tab:red")
        if y == "effective_lr":
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{name}\n{' / '.join(dict.fromkeys(d.rule))}", fontsize="medium")
        ax.set_xlabel("epoch" if bottom else "")
        ax.set_ylabel(("effective rate ÷ lr" if y == "rate_ratio" else "learning rate") if left else "")
    _legend_below(fig, [p[0] for p in panels])
    if title:
        fig.suptitle(title)
    return fig


def plot_curves(histories: pd.DataFrame, y: str = "train_loss", hue: str = "activation", col: str | None = None,
                ylabel: str | None = None, title: str = "", style: str | None = None,
                style_order: list[str] | None = None) -> plt.Figure:
    """Per-epoch curves (mean and spread over seeds), e.g. the loss curves of paper B Fig. 6.

    ``style`` gives a second encoding (dashes and markers), so that many series stay readable as
    colour × line style: e.g. ``hue="family"`` (sigmoid, tanh, ReLU) and ``style="version"`` (fixed, adaptive);
    the first of ``style_order`` is drawn solid.
    """
    kwargs = dict(data=histories, x="epoch", y=y, hue=hue, errorbar="sd")
    if style:  # a marker per style value
        kwargs.update(style=style, style_order=style_order, markers=True)
    else:
        kwargs.update(marker="o")
    if col is None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
        sns.lineplot(ax=ax, **kwargs)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel or y.replace("_", " "))
        ax.set_title(title)
        ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left")
        return fig
    grid = sns.relplot(kind="line", col=col, height=3.2, facet_kws={"sharey": False}, **kwargs)
    for ax in grid.axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    grid.set_ylabels(ylabel or y.replace("_", " "))
    grid.figure.suptitle(title, y=1.03)
    return grid.figure


def plot_per_layer(frame: pd.DataFrame, y: str, ylabel: str, every_epoch: bool = False) -> plt.Figure:
    """``y`` per epoch, one panel per layer, one line per activation (mean ± sd over seeds); ``every_epoch`` puts
    a tick at every epoch. E.g. paper B's Fig. 4 increments
    (:func:`mixact_lib.studies.slopes.delta_w_norms`, :func:`mixact_lib.studies.slopes.relative_increments`)."""
    grid = sns.relplot(data=frame, x="epoch", y=y, hue="activation", col="layer", kind="line", marker="o",
                       errorbar="sd", height=3.0, facet_kws={"sharey": False})
    if every_epoch:
        grid.set(xticks=sorted(frame.epoch.unique()))
    grid.set_ylabels(ylabel)
    grid.set_titles("{col_name}")
    return grid.figure


def plot_bars(table: pd.DataFrame, x: str, y: str, hue: str | None = None, ylabel: str | None = None,
              title: str = "", ylim: tuple[float, float] | None = None) -> plt.Figure:
    """Bars with seed spread (sd), e.g. accuracy or convergence area per activation."""
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * table[x].nunique() + 2), 3.8))
    sns.barplot(data=table, x=x, y=y, hue=hue, errorbar="sd", ax=ax)
    ax.set_ylabel(ylabel or y.replace("_", " "))
    ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    if hue is not None:
        ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left")
    return fig


def plot_scatter(table: pd.DataFrame, x: str, y: str, hue: str, xlabel: str | None = None,
                 ylabel: str | None = None, title: str = "", logx: bool = False) -> plt.Figure:
    """Mean ± sd per group as points with error bars (accuracy vs time / parameter count)."""
    stats = table.groupby(hue)[[x, y]].agg(["mean", "std"]).reset_index()
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    palette = sns.color_palette("tab20", len(stats))
    for color, (_, row) in zip(palette, stats.iterrows()):
        ax.errorbar(row[(x, "mean")], row[(y, "mean")], xerr=np.nan_to_num(row[(x, "std")]),
                    yerr=np.nan_to_num(row[(y, "std")]), fmt="o", color=color, label=row[(hue, "")], capsize=3)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.set_title(title)
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize="small")
    return fig


def plot_simplex_loss(table: pd.DataFrame, value: str = "loss", label: str = "training loss (mean cross-entropy)",
                      title: str = "") -> plt.Figure:
    """Heat map of ``value`` over paper A's weight triangle, with the learned p marked.

    ``table`` is :func:`mixact_lib.studies.simplex.simplex_loss`'s (columns ``p_<member>`` for three members,
    ``value``, ``learned``). Barycentric p → plane: the first member at (0, 0), the second at (1, 0),
    the third at (½, √3/2), i.e. (x, y) = (p₂ + p₃/2, p₃·√3/2); the colour is interpolated linearly
    between the evaluated points (``tricontourf``), which are drawn as dots.
    """
    members = [c for c in table.columns if c.startswith("p_")]
    if len(members) != 3:
        raise ValueError(f"a ternary plot needs three p_<member> columns, got {members}")
    names = {"relu": "ReLU", "tanh": "tanh", "sin": "sin"}
    x = (table[members[1]] + table[members[2]] / 2).to_numpy()
    y = (table[members[2]] * np.sqrt(3) / 2).to_numpy()
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    filled = ax.tricontourf(x, y, table[value].to_numpy(), levels=12, cmap="viridis")
    ax.scatter(x, y, s=6, color="white", alpha=0.6, linewidths=0)
    ax.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], color="0.3", lw=1)
    learned = table.loc[table["learned"].astype(bool)] if "learned" in table else table.iloc[:0]
    if len(learned):
        ax.plot(x[learned.index[0]], y[learned.index[0]], marker="*", ms=15, color="red", mec="white", ls="",
                label="learned p")
        ax.legend(loc="upper right", frameon=False)
    for (vx, vy, ha, va), m in zip([(0, 0, "right", "top"), (1, 0, "left", "top"),
                                     (0.5, np.sqrt(3) / 2, "center", "bottom")], members):
        ax.text(vx, vy, names.get(m[2:], m[2:]), ha=ha, va=va, fontsize=11)
    ax.set_aspect("equal")
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.08, np.sqrt(3) / 2 + 0.08)
    ax.axis("off")
    fig.colorbar(filled, ax=ax, shrink=0.8).set_label(label)
    ax.set_title(title)
    return fig


def plot_accuracy_vs_compute(cost: pd.DataFrame, hue: str = "network",
                             metrics: tuple[str, ...] = ("best_test_acc", "final_test_acc"),
                             costs: tuple[str, ...] = ("epochs", "seconds")) -> plt.Figure:
    """Accuracy against what it cost to obtain each network (``reproduction.paper_c_cost``).

    One row per accuracy in ``metrics``, one column per cost in ``costs``. Each run is a small dot; each
    network a large one at (median cost, mean accuracy), with the accuracy's ± sd over seeds and the cost's
    min–max. Seconds are drawn on a log axis: they span machines and loads.
    """
    names = list(dict.fromkeys(cost[hue]))
    palette = dict(zip(names, sns.color_palette("tab10", len(names))))
    fig, axes = plt.subplots(len(metrics), len(costs), figsize=(4.4 * len(costs), 3.0 * len(metrics) + 0.5),
                             squeeze=False, sharey="row", layout="constrained")
    for i, metric in enumerate(metrics):
        for j, x in enumerate(costs):
            ax = axes[i][j]
            for name, runs in cost.groupby(hue, sort=False):
                mid = runs[x].median()
                ax.scatter(runs[x], runs[metric], s=12, alpha=0.45, color=palette[name])
                ax.errorbar(mid, runs[metric].mean(), xerr=[[mid - runs[x].min()], [runs[x].max() - mid]],
                            yerr=np.nan_to_num(runs[metric].std()), fmt="o", capsize=3, color=palette[name],
                            label=name if (i, j) == (0, 0) else None)
            if x == "seconds":
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
                ax.xaxis.set_minor_formatter(plt.NullFormatter())
            else:
                ax.set_xticks(sorted(set(cost[x])))
                ax.margins(x=0.15)
            ax.set_xlabel({"epochs": "training epochs to obtain the network",
                           "seconds": "wall-clock seconds (log; machine load varies)"}.get(x, x) if i == len(metrics) - 1
                          else "")
            ax.set_ylabel(metric.replace("_", " ") if j == 0 else "")
    _legend_below(fig, axes.ravel())
    return fig


def plot_weight_trace(trace: pd.DataFrame, hue: str = "activation", title: str = "") -> plt.Figure:
    """Paper B Fig. 4 as the paper draws it: rows = the four traced weights, columns = layers 1, 5, 9.

    ``trace`` is :func:`mixact_lib.studies.slopes.weight_trace_increments`. Each line is one run (seed): the
    weight at a position is a different weight in every seed (its own initialisation), so seeds are
    drawn, not averaged. A dotted line marks 0, since the increments are signed.
    """
    data = trace.assign(layer_name=[f"layer {i} ({n})" for i, n in zip(trace.layer_index, trace.layer)],
                        row_name=[f"weight {r}" for r in trace.weight_rank])
    grid = sns.relplot(data=data, x="epoch", y="increment", hue=hue, units="seed", estimator=None, kind="line",
                       row="row_name", col="layer_name", marker="o", markersize=3, linewidth=1, alpha=0.8,
                       height=1.9, aspect=1.5, facet_kws={"sharey": False, "margin_titles": True})
    for ax in grid.axes.flat:
        ax.axhline(0.0, color="0.6", linewidth=0.8, linestyle=":")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    grid.set_titles(row_template="{row_name}", col_template="{col_name}")
    grid.set_ylabels("w(e) − w(e−1)")
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid.figure
