"""Figures for the book (seaborn), each also saved as PNG next to a CSV of its data.

Every ``plot_*`` takes a tidy DataFrame (from :mod:`mixact_lib.results`) and
returns the matplotlib Figure; :func:`save` writes figure and data together.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.ticker import MaxNLocator

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
