"""Saving a figure beside its data, and the panel and legend helpers every figure shares."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def save(fig: plt.Figure, data: pd.DataFrame | None, folder: str | Path, name: str) -> Path:
    """Write ``<folder>/<name>.png`` (and ``<name>.csv`` with the plotted data); return the PNG path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, dpi=120, bbox_inches="tight")
    if data is not None:
        data.to_csv(folder / f"{name}.csv", index=False)
    return png


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
