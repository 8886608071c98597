"""Accuracy against cost, one point per activation, with the Pareto front labelled.

Points are medians with interquartile whiskers (over seeds for accuracy, over timing rounds for time), so one
unlucky seed or round cannot stretch an axis. With twenty activations a legend of twenty colours cannot be read
and twenty labels pile up, so points are coloured by family (at most eight) and only the Pareto front (no other
activation is both more accurate and cheaper) and the reference are named; every name and value is in the
table saved beside the figure. Cost ratios are drawn on a log axis, where 2× and ½× are equally far from 1.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...studies.step_cost import pareto_mask

_PALETTE = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]


def median_iqr(table: pd.DataFrame, by: str, value: str) -> pd.DataFrame:
    """Per ``by``: ``<value>_median``, ``<value>_q1`` and ``<value>_q3`` (25th and 75th percentiles)."""
    g = table.groupby(by, sort=False)[value]
    return pd.DataFrame({f"{value}_median": g.median(), f"{value}_q1": g.quantile(0.25),
                         f"{value}_q3": g.quantile(0.75)}).reset_index()


def plot_pareto(frame: pd.DataFrame, costs: list[tuple[str, str]], value: str = "final_test_acc_median",
                value_range: tuple[str, str] | None = ("final_test_acc_q1", "final_test_acc_q3"),
                value_label: str = "final test accuracy",
                label: str = "activation", group: str | None = "family",
                cost_ranges: dict[str, tuple[str, str]] | None = None, reference: str | None = "relu",
                log_costs: bool = True, title: str = "") -> plt.Figure:
    """One panel per cost: ``value`` (higher is better) against the cost (lower is better).

    ``costs`` lists (column, axis label). ``value_range`` names the (low, high) columns of a vertical whisker,
    ``cost_ranges`` those of a horizontal one per cost column. The Pareto front of each panel (on that cost
    alone) is a dashed step line through its points, drawn larger and named; ``reference`` is named too.
    """
    if frame.empty:
        raise ValueError("plot_pareto: the table is empty; nothing to plot")
    groups = list(dict.fromkeys(frame[group])) if group else [None]
    if len(groups) > len(_PALETTE):
        raise ValueError(f"plot_pareto: {len(groups)} groups in {group!r}; at most {len(_PALETTE)} can be told apart")
    colours = dict(zip(groups, _PALETTE))
    # panels stacked, at the page's width, so that the book shows them at full size
    fig, axes = plt.subplots(len(costs), 1, figsize=(6.8, 3.5 * len(costs) + 0.9), squeeze=False)
    for ax, (cost, cost_label) in zip(axes[:, 0], costs):
        front = pareto_mask(frame, value, [cost])
        lows, highs = (cost_ranges or {}).get(cost, (None, None))
        for key in groups:
            part = frame if key is None else frame[frame[group] == key]
            xerr = None if lows is None else [part[cost] - part[lows], part[highs] - part[cost]]
            yerr = None if value_range is None else [part[value] - part[value_range[0]],
                                                     part[value_range[1]] - part[value]]
            ax.errorbar(part[cost], part[value], yerr=yerr, xerr=xerr, fmt="none", ecolor=colours[key], alpha=0.45,
                        lw=0.9)
            ax.scatter(part[cost], part[value], s=[60 if f else 24 for f in front[part.index]], color=colours[key],
                       edgecolor="black", linewidth=[1.0 if f else 0 for f in front[part.index]], label=key, zorder=3)
        on_front = frame[front].sort_values(cost)
        ax.step(on_front[cost], on_front[value], where="post", color="0.3", lw=1.0, ls="--", zorder=2,
                label="Pareto front")
        if log_costs and (frame[cost] > 0).all():
            ax.set_xscale("log")
            ticks = [t for t in (0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16)
                     if frame[cost].min() / 1.3 <= t <= frame[cost].max() * 1.3]
            ax.set_xticks(ticks, [f"{t:g}×" for t in ticks])
            ax.minorticks_off()
            ax.set_xlim(frame[cost].min() / 1.08, frame[cost].max() * 1.15)  # room for the right-most name
        named = front | (frame[label] == reference)
        _clip_outliers(ax, frame, cost, value, label)
        _direct_labels(ax, frame.loc[named, cost].to_numpy(float), frame.loc[named, value].to_numpy(float),
                       list(frame.loc[named, label]), log_x=log_costs)
        ax.set_xlabel(cost_label)
        ax.set_ylabel(value_label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), frameon=False,
               bbox_to_anchor=(0.5, -0.005), fontsize=8)
    rows = -(-len(labels) // 3)
    fig.tight_layout(rect=(0, 0.03 + 0.022 * rows, 1, 0.97 if title else 1))
    if title:
        fig.suptitle(title)
    return fig


def _clip_outliers(ax, frame: pd.DataFrame, cost: str, value: str, label: str, k: float = 6.0) -> None:
    """Keep the value axis on the bulk of the points: a point more than ``k`` median absolute deviations below
    the median is drawn as a ▼ on the axis's lower edge, with its name and value, instead of stretching it."""
    v = frame[value].to_numpy(float)
    mad = float(np.median(np.abs(v - np.median(v)))) or float(np.ptp(v)) or 1.0
    floor = np.median(v) - k * mad
    low = v < floor
    if not low.any():
        return
    top = float(np.max(frame.get(value.replace("_median", "_q3"), frame[value])))
    bottom = min(float(v[~low].min()), floor)
    pad = 0.06 * (top - bottom)
    ax.set_ylim(bottom - pad, top + pad / 2)
    for x, y, name in frame.loc[low, [cost, value, label]].itertuples(index=False):
        ax.scatter([x], [bottom - pad * 0.6], marker="v", color="0.3", s=30, zorder=4, clip_on=False)
        ax.annotate(f"{name} {y:.3f}", (x, bottom - pad * 0.6), xytext=(6, -3), textcoords="offset points",
                    fontsize=7, color="0.3")


def _direct_labels(ax, xs, ys, names, gap: float = 0.045, near: float = 0.16, log_x: bool = False) -> None:
    """Each name just right of its point, nudged down (then up) until it clears the names already placed
    nearby; positions in axes fractions, a thin line joins a moved name to its point."""
    ax.autoscale_view()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    tx = (lambda x: np.log(x)) if log_x and x0 > 0 else (lambda x: x)
    fx = (tx(np.asarray(xs)) - tx(x0)) / (tx(x1) - tx(x0))
    fy = (np.asarray(ys) - y0) / (y1 - y0)
    placed: list[tuple[float, float]] = []
    for i in sorted(range(len(names)), key=lambda k: -fy[k]):
        y = fy[i]
        while any(abs(px - fx[i]) < near and abs(py - y) < gap for px, py in placed):
            y -= gap
        placed.append((fx[i], y))
        moved = abs(y - fy[i]) > gap / 2
        ax.annotate(names[i], (xs[i], ys[i]), xytext=(fx[i] + 0.015, y - 0.01), textcoords="axes fraction",
                    fontsize=8, zorder=4, arrowprops=dict(arrowstyle="-", lw=0.4, color="0.55") if moved else None)
