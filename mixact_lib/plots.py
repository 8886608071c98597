"""Figures for the book (seaborn), each also saved as PNG next to a CSV of its data.

Every ``plot_*`` takes a tidy DataFrame (from :mod:`mixact_lib.results`) and
returns the matplotlib Figure; :func:`save` writes figure and data together.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.colors import TwoSlopeNorm
from matplotlib.ticker import MaxNLocator

from .results import rebuild_activations
from .slopes import FIXED

sns.set_theme(context="notebook", style="whitegrid")


def save(fig: plt.Figure, data: pd.DataFrame | None, folder: str | Path, name: str) -> Path:
    """Write ``<folder>/<name>.png`` (and ``<name>.csv`` with the plotted data); return the PNG path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=120, bbox_inches="tight")
    if data is not None:
        data.to_csv(folder / f"{name}.csv", index=False)
    return png


def plot_mixture_weights(weights: pd.DataFrame, title: str = "", ylabel: str = "mixture weight p") -> plt.Figure:
    """Grouped bars: one group per layer, one bar per member (paper A Table 1, paper C appendix B.1)."""
    long = weights.rename_axis("layer").reset_index().melt(id_vars="layer", var_name="member", value_name="weight")
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(weights) + 2), 3.6))
    sns.barplot(data=long, x="layer", y="weight", hue="member", ax=ax)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("")
    ax.set_title(title)
    ax.legend(title="member", bbox_to_anchor=(1.01, 1), loc="upper left")
    return fig


def plot_weight_trajectories(trajectories: pd.DataFrame, row: str | None = None,
                             title: str = "") -> plt.Figure:
    """Mixture weights p per epoch (mean ± sd over seeds), one panel per layer (and per ``row``).

    ``trajectories`` is :func:`mixact_lib.results.weight_trajectories`'s table; epochs where only
    the mixture trained (``trains == "act"``, paper A's second cycle) are shaded.
    """
    grid = sns.relplot(data=trajectories, x="epoch", y="p", hue="member", col="layer", row=row, kind="line",
                       errorbar="sd", height=2.8, aspect=1.1)
    act_epochs = sorted(trajectories.loc[trajectories["trains"] == "act", "epoch"].unique())
    for ax in grid.axes.flat:
        if act_epochs:
            ax.axvspan(act_epochs[0] - 1, act_epochs[-1], color="0.9", zorder=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    grid.set_titles(row_template="{row_name}", col_template="{col_name}")
    grid.set_ylabels("mixture weight p")
    grid.figure.suptitle(title, y=1.03)
    return grid.figure


def activation_curves(modules: dict[str, torch.nn.Module], lo: float = -5.0, hi: float = 5.0,
                      n: int = 401) -> pd.DataFrame:
    """Evaluate each (trained) activation on a grid: tidy columns ``x``, ``y``, ``layer``."""
    x = torch.linspace(lo, hi, n)
    frames = []
    for label, module in modules.items():
        was_training = module.training
        module.eval()
        with torch.no_grad():
            y = module(x.to(next(module.parameters(), x).device)).cpu()
        module.train(was_training)
        frames.append(pd.DataFrame({"x": x.numpy(), "y": y.numpy(), "layer": label}))
    return pd.concat(frames, ignore_index=True)


def plot_activation_curves(curves: pd.DataFrame, hue: str = "layer", col: str | None = None,
                           title: str = "") -> plt.Figure:
    """Learned activation shapes (paper A Figure 1, paper B Figure 3)."""
    if col is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        sns.lineplot(data=curves, x="x", y="y", hue=hue, ax=ax)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_title(title)
        ax.set_ylabel("f(x)")
        return fig
    grid = sns.relplot(data=curves, x="x", y="y", hue=hue, col=col, kind="line", height=3.2, aspect=1.0,
                       facet_kws={"sharey": False})
    grid.set_ylabels("f(x)")
    grid.figure.suptitle(title, y=1.03)
    return grid.figure


def learned_shape_curves(folders: list[str | Path], lo: float = -4.0, hi: float = 4.0, n: int = 201,
                         reference: dict[str, str] | None = None) -> pd.DataFrame:
    """Every learnable site's final f(x) of each run, beside the fixed function it started as.

    The modules are rebuilt from ``summary.json`` (:func:`mixact_lib.results.rebuild_activations`),
    so for paper B these are f_A(x) = b·f(a·x + c) + d (eqs. 10–11) and max(a·x + c, b·x + d)
    (eq. 12) at the final a, b, c, d. ``reference`` maps an activation to its fixed function
    (default :data:`mixact_lib.slopes.FIXED`: asigmoid → sigmoid, atanh → tanh, arelu → relu), added
    as ``layer == "fixed"`` (layer_index 0). Tidy columns: folder, model, activation, seed, layer,
    layer_index, x, y.
    """
    from .activations import make_activation

    reference = FIXED if reference is None else reference
    frames = []
    for folder in map(Path, folders):
        config = json.loads((folder / "config.json").read_text())
        who = {"folder": str(folder), **{k: config.get(k) for k in ("model", "activation", "seed")}}
        modules = rebuild_activations(folder)
        if config["activation"] in reference:
            modules = {"fixed": make_activation(reference[config["activation"]]), **modules}
        curves = activation_curves(modules, lo, hi, n)
        curves["layer_index"] = curves.layer.map({k: i for i, k in enumerate(modules, start=0 if "fixed" in modules
                                                                              else 1)})
        frames.append(curves.assign(**who))
    if not frames:
        raise ValueError("no run folders given")
    return pd.concat(frames, ignore_index=True)[["folder", "model", "activation", "seed", "layer", "layer_index",
                                                 "x", "y"]]


def _panels(data: pd.DataFrame, row: str | None, col: str | None, size: tuple[float, float],
            col_wrap: int | None = None) -> tuple[plt.Figure, list[tuple]]:
    """A figure with one axes per (row value, col value) present; ``col_wrap`` folds a lone ``col``.

    Returns the figure and (ax, frame of that panel, title, is bottom row, is left column) per panel.
    """
    rows = list(dict.fromkeys(data[row])) if row else [None]
    cols = list(dict.fromkeys(data[col])) if col else [None]
    keys = [(r, c) for r in rows for c in cols]
    ncols = min(col_wrap, len(cols)) if (col_wrap and row is None) else len(cols)
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False,
                             constrained_layout=True)
    panels = []
    for k, (r, c) in enumerate(keys):
        mask = np.ones(len(data), dtype=bool)
        if row:
            mask &= (data[row] == r).to_numpy()
        if col:
            mask &= (data[col] == c).to_numpy()
        ax = axes.flat[k]
        if not mask.any():
            ax.set_axis_off()
            continue
        panels.append((ax, data[mask], _title(r, c), k + ncols >= len(keys), k % ncols == 0))
    for ax in list(axes.flat)[len(keys):]:
        ax.set_axis_off()
    return fig, panels


def _legend_below(fig: plt.Figure, axes) -> None:
    """One legend for the figure, each label once, under the panels."""
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=len(handles), frameon=False)


def _title(*values) -> str:
    return " · ".join(str(v) for v in values if v is not None)


def plot_learned_shapes(curves: pd.DataFrame, row: str | None = "model", col: str | None = "activation",
                        title: str = "") -> plt.Figure:
    """Learned f(x) of every layer (grey; first and last layer coloured) beside the fixed function (dashed).

    ``curves`` is :func:`learned_shape_curves`'s table for one run per panel (one seed): four kinds of
    line whatever the depth, so a reader sees how far the layers moved from the fixed function and
    whether depth orders them.
    """
    fig, panels = _panels(curves, row, col, (3.2, 2.7))
    for ax, d, name, bottom, left in panels:
        if d.folder.nunique() > 1:
            raise ValueError(f"panel {name} holds {d.folder.nunique()} runs; pass one run per panel (e.g. one seed)")
        learned = d[d.layer != "fixed"]
        last = learned.layer_index.max()
        for index, layer in learned.groupby("layer_index"):
            style = ({"color": "tab:blue", "lw": 1.8, "label": "layer 1 (input side)", "zorder": 3} if index == 1 else
                     {"color": "tab:orange", "lw": 1.8, "label": "last layer", "zorder": 3} if index == last else
                     {"color": "0.65", "lw": 0.8, "label": "other layers", "zorder": 2})
            ax.plot(layer.x, layer.y, **style)
        fixed = d[d.layer == "fixed"]
        if not fixed.empty:
            ax.plot(fixed.x, fixed.y, color="black", ls="--", lw=1.4, label="fixed function", zorder=4)
        ax.axhline(0, color="0.8", lw=0.6, zorder=0)
        ax.axvline(0, color="0.8", lw=0.6, zorder=0)
        ax.set_title(f"{name} ({last} layers)", fontsize="medium")
        ax.set_xlabel("x" if bottom else "")
        ax.set_ylabel("f(x)" if left else "")
    _legend_below(fig, [p[0] for p in panels])
    if title:
        fig.suptitle(title)
    return fig


def plot_shapes_per_layer(curves: pd.DataFrame, reference: str = "relu", title: str = "") -> plt.Figure:
    """Learned f(x) of one activation, one panel per layer, one thin line per seed, ``reference`` dashed.

    ``curves`` is :func:`learned_shape_curves`'s table for the seeds of one network (e.g. paper C's
    AdAct runs), so a reader sees at each depth how far the seeds agree and how far they left the
    reference.
    """
    from .activations import make_activation

    fig, panels = _panels(curves, None, "layer", (2.7, 2.5))
    fixed = make_activation(reference).eval()
    for ax, d, name, bottom, left in panels:
        for _, run in d.groupby("seed"):
            ax.plot(run.x, run.y, color="tab:blue", lw=0.8, alpha=0.8, label="learned, one line per seed")
        x = torch.tensor(np.sort(d.x.unique()), dtype=torch.float32)
        with torch.no_grad():
            ax.plot(x, fixed(x), color="black", ls="--", lw=1.2, label=reference, zorder=4)
        ax.axhline(0, color="0.8", lw=0.6, zorder=0)
        ax.axvline(0, color="0.8", lw=0.6, zorder=0)
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("x" if bottom else "")
        ax.set_ylabel("f(x)" if left else "")
    _legend_below(fig, [p[0] for p in panels])
    if title:
        fig.suptitle(title)
    return fig


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

    ``rates`` is :func:`mixact_lib.slopes.effective_rates`'s table. ``y="rate_ratio"`` plots
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
                ylabel: str | None = None, title: str = "") -> plt.Figure:
    """Per-epoch curves (mean and spread over seeds), e.g. the loss curves of paper B Fig. 6."""
    kwargs = dict(data=histories, x="epoch", y=y, hue=hue, marker="o", errorbar="sd")
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

    ``table`` is :func:`mixact_lib.simplex.simplex_loss`'s (columns ``p_<member>`` for three members,
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
