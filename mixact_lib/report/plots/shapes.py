"""Activation shapes and mixture weights: learned f(x) per layer, weights per layer and epoch."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.ticker import MaxNLocator

from ...analysis.results import rebuild_activations
from ...studies.slopes import FIXED
from .common import _panels, _legend_below


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

    ``trajectories`` is :func:`mixact_lib.analysis.results.weight_trajectories`'s table; epochs where only
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
    """Evaluate each (trained) activation on a grid: tidy columns ``x``, ``y``, ``layer``, ``group``.

    An activation with one coefficient set per channel group (``groups`` > 1, e.g. ``kat_rational``) has
    one function per group: it is evaluated on an (n, groups) input, one channel per group, and gives one
    curve per group (``group`` = 0, 1, …); every other activation gives one curve, ``group`` = 0.
    """
    x = torch.linspace(lo, hi, n)
    frames = []
    for label, module in modules.items():
        groups = getattr(module, "groups", 1)
        groups = groups if isinstance(groups, int) and groups > 1 else 1
        was_training = module.training
        module.eval()
        with torch.no_grad():
            grid = x.to(next(module.parameters(), x).device)
            y = module(grid[:, None].expand(n, groups).contiguous()) if groups > 1 else module(grid)[:, None]
        module.train(was_training)
        for g in range(groups):
            frames.append(pd.DataFrame({"x": x.numpy(), "y": y[:, g].cpu().numpy(), "layer": label, "group": g}))
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

    The modules are rebuilt from ``summary.json`` (:func:`mixact_lib.analysis.results.rebuild_activations`),
    so for paper B these are f_A(x) = b·f(a·x + c) + d (eqs. 10–11) and max(a·x + c, b·x + d)
    (eq. 12) at the final a, b, c, d. ``reference`` maps an activation to its fixed function
    (default :data:`mixact_lib.studies.slopes.FIXED`: asigmoid → sigmoid, atanh → tanh, arelu → relu), added
    as ``layer == "fixed"`` (layer_index 0). Tidy columns: folder, model, activation, seed, layer,
    layer_index, group (one curve per channel group, see :func:`activation_curves`), x, y.
    """
    from ...activations import make_activation

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
                                                 "group", "x", "y"]]


def plot_learned_shapes(curves: pd.DataFrame, row: str | None = "model", col: str | None = "activation",
                        title: str = "", col_wrap: int | None = None) -> plt.Figure:
    """Learned f(x) of every layer (grey; first and last layer coloured) beside the fixed function (dashed).

    ``curves`` is :func:`learned_shape_curves`'s table for one run per panel (one seed): four kinds of
    line whatever the depth, so a reader sees how far the layers moved from the fixed function and
    whether depth orders them. ``col_wrap`` folds a lone ``col`` (``row=None``) into rows of that many panels.
    """
    fig, panels = _panels(curves, row, col, (3.2, 2.7), col_wrap)
    for ax, d, name, bottom, left in panels:
        if d.folder.nunique() > 1:
            raise ValueError(f"panel {name} holds {d.folder.nunique()} runs; pass one run per panel (e.g. one seed)")
        learned = d[d.layer != "fixed"]
        last = learned.layer_index.max()
        for (index, _), layer in learned.groupby(["layer_index", "group"]):  # a grouped activation: a line per group
            style = ({"color": "tab:blue", "lw": 1.8, "label": "layer 1 (input side)", "zorder": 3} if index == 1 else
                     {"color": "tab:orange", "lw": 1.8, "label": "last layer", "zorder": 3} if index == last else
                     {"color": "0.65", "lw": 0.8, "label": "other layers", "zorder": 2})
            ax.plot(layer.x, layer.y, **style)
        fixed = d[d.layer == "fixed"]
        if not fixed.empty:
            ax.plot(fixed.x, fixed.y, color="black", ls="--", lw=1.4, label="fixed function", zorder=4)
        _shape_axes(ax, f"{name} ({last} layers)", bottom, left)
    return _finish(fig, panels, title)


def _shape_axes(ax, title: str, bottom: bool, left: bool) -> None:
    """An f(x) panel: thin axes through the origin, its title, x and f(x) labels on the outer panels only."""
    ax.axhline(0, color="0.8", lw=0.6, zorder=0)
    ax.axvline(0, color="0.8", lw=0.6, zorder=0)
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("x" if bottom else "")
    ax.set_ylabel("f(x)" if left else "")


def _finish(fig: plt.Figure, panels: list, title: str) -> plt.Figure:
    """One legend below all panels and the optional overall title."""
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
    from ...activations import make_activation

    fig, panels = _panels(curves, None, "layer", (2.7, 2.5))
    fixed = make_activation(reference).eval()
    for ax, d, name, bottom, left in panels:
        for _, run in d.groupby(["seed", "group"] if "group" in d else "seed"):
            ax.plot(run.x, run.y, color="tab:blue", lw=0.8, alpha=0.8, label="learned, one line per seed")
        x = torch.tensor(np.sort(d.x.unique()), dtype=torch.float32)
        with torch.no_grad():
            ax.plot(x, fixed(x), color="black", ls="--", lw=1.2, label=reference, zorder=4)
        _shape_axes(ax, name, bottom, left)
    return _finish(fig, panels, title)
