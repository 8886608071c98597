"""Accuracy against cost, one point per activation, with the Pareto front and direct labels.

With twenty activations a legend of twenty colours cannot be read, so points are coloured by family
(at most eight) and each carries its name beside it; the front (no other activation is both more
accurate and cheaper) is drawn as a step line.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..step_cost import pareto_mask

_PALETTE = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]


def plot_pareto(frame: pd.DataFrame, costs: list[tuple[str, str]], value: str = "final_test_acc_mean",
                value_err: str | None = "final_test_acc_std", value_label: str = "final test accuracy",
                label: str = "activation", group: str | None = "family", cost_errs: dict[str, tuple[str, str]] | None = None,
                title: str = "") -> plt.Figure:
    """One panel per cost: ``value`` (higher is better) against the cost (lower is better).

    ``costs`` lists (column, axis label). ``value_err`` draws ± that column as a vertical bar (e.g. the sd
    over seeds); ``cost_errs`` maps a cost column to its (low, high) columns for a horizontal range (e.g.
    the ratio's range over timing rounds). The Pareto front of each panel (on that cost alone) is a step
    line through its points, which are drawn larger. Every point is named in the first panel; later panels name
    the front and the points that stand apart (more than three within 2 % of the axis range share a position).
    """
    if frame.empty:
        raise ValueError("plot_pareto: the table is empty; nothing to plot")
    groups = list(dict.fromkeys(frame[group])) if group else [None]
    if len(groups) > len(_PALETTE):
        raise ValueError(f"plot_pareto: {len(groups)} groups in {group!r}; at most {len(_PALETTE)} can be told apart")
    colours = dict(zip(groups, _PALETTE))
    fig, axes = plt.subplots(len(costs), 1, figsize=(9.5, 5.6 * len(costs)), squeeze=False)
    for ax, (cost, cost_label) in zip(axes[:, 0], costs):
        front = pareto_mask(frame, value, [cost])
        for key in groups:
            part = frame if key is None else frame[frame[group] == key]
            lows, highs = (cost_errs or {}).get(cost, (None, None))
            xerr = None if lows is None else [part[cost] - part[lows], part[highs] - part[cost]]
            ax.errorbar(part[cost], part[value], yerr=None if value_err is None else part[value_err], xerr=xerr,
                        fmt="none", ecolor=colours[key], alpha=0.35, lw=0.9)
            ax.scatter(part[cost], part[value], s=[70 if f else 28 for f in front[part.index]],
                       color=colours[key], edgecolor="black", linewidth=[1.0 if f else 0 for f in front[part.index]],
                       label=key, zorder=3)
        on_front = frame[front].sort_values(cost)
        ax.step(on_front[cost], on_front[value], where="post", color="0.3", lw=1.0, ls="--", zorder=2,
                label="Pareto front")
        names = list(frame[label])
        if ax is not axes[0, 0]:  # later panels: name only the front and the points that stand apart
            xs = frame[cost].to_numpy(float)
            near = np.abs(xs[:, None] - xs[None, :]) <= 0.02 * (np.ptp(xs) or 1.0)
            crowded = near.sum(axis=1) > 3
            names = [n if (f or not c) else "" for n, f, c in zip(names, front, crowded)]
        _direct_labels(ax, frame[cost].to_numpy(float), frame[value].to_numpy(float), names)
        ax.set_xlabel(cost_label)
        ax.set_ylabel(value_label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 0.97 if title else 1))
    if title:
        fig.suptitle(title)
    return fig


def _direct_labels(ax, xs, ys, names, gap: float = 0.028, near: float = 0.12) -> None:
    """Each point's name just right of it, nudged up until it clears the labels of points nearby.

    Positions are in axes fractions: going up the points by value, a label moves up to ``gap`` above any
    label already placed within ``near`` of it horizontally; a thin line joins a moved label to its point.
    """
    ax.autoscale_view()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    fx, fy = (xs - x0) / (x1 - x0), (ys - y0) / (y1 - y0)
    placed: list[tuple[float, float]] = []
    for i in sorted(range(len(names)), key=lambda k: fy[k]):
        if not names[i]:
            continue
        y = fy[i]
        for px, py in sorted(placed, key=lambda p: p[1]):
            if abs(px - fx[i]) < near and abs(py - y) < gap:
                y = py + gap
        placed.append((fx[i], y))
        moved = abs(y - fy[i]) > gap / 2
        ax.annotate(names[i], (xs[i], ys[i]), xytext=(fx[i] + 0.012, y - 0.008), textcoords="axes fraction",
                    fontsize=8, zorder=4, arrowprops=dict(arrowstyle="-", lw=0.4, color="0.55") if moved else None)
