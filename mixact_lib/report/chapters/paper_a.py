"""What the paper A chapter (``book/paper_a.ipynb``) prints: its runs, Table 1 beside ours, the simplex section's
sentence, the per-run reading of the paper's claim, and the data of its figures.

Every function takes the chapter's run table (:func:`mixact_lib.sweep` with a ``norm`` column, see
:func:`with_norms`) or what an earlier function returned, and returns a DataFrame, a formatted table, text or
figure data; the notebook shows them and writes the CSVs.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ...activations import make_activation
from ...analysis.reproduction import norm_of, paper_a_claims_per_run, paper_values
from ...analysis.results import mixture_weights, rebuild_activations
from ...runs.config import RunConfig
from .. import plots
from ..tables import Table, show_table

MEMBERS = ("relu", "tanh", "sin")  # paper A's mixture, in its order
LAYERS = ("layer 1", "layer 2", "layer 3")  # its three activation sites
TIMING_NOTE = ("Seconds are the wall clock of a machine shared with other jobs, so they move with its load: "
               "read them as rough.")


def phases_text(config: RunConfig) -> str:
    """The training cycles of ``config``, one per line: epochs, optimiser, learning rate and what trains."""
    lines = [f"{p.epochs} epoch(s) {p.optimizer} lr={p.act_lr or p.lr:g} trains={p.trains}" for p in config.phases]
    return "\n  ".join(["phases:", *lines])


def with_norms(table: pd.DataFrame) -> pd.DataFrame:
    """The run table with a ``norm`` column: each run's reading of eq. 9, from its ``activation_kwargs``."""
    return table.assign(norm=table.activation_kwargs.map(norm_of))


def runs_view(table: pd.DataFrame) -> Table:
    """One row per run: reading of eq. 9, seed, best and final test accuracy, wall-clock seconds."""
    return show_table(table[["norm", "seed", "best_test_acc", "final_test_acc", "total_seconds"]],
                      labels={"norm": "reading of eq. 9"}, note=TIMING_NOTE)


def learned_weights(table: pd.DataFrame) -> pd.DataFrame:
    """Final mixture weights p of every run, one row per run and layer: layer, relu, tanh, sin, norm, seed."""
    frames = []
    for r in table.itertuples():
        weights = mixture_weights(r.folder).assign(norm=r.norm, seed=r.seed)
        frames.append(weights.rename_axis("layer").reset_index())
    return pd.concat(frames, ignore_index=True)


def beside_table1(weights: pd.DataFrame, dataset: str, norm: str) -> pd.DataFrame:
    """Paper A's Table 1 for ``dataset`` beside our mean weights over seeds under reading ``norm``.

    One row per layer; columns ``paper p(m)`` (NaN where the paper has no value) and ``ours p(m)`` per member m.
    """
    paper = paper_values().query("paper == 'A' and dataset == @dataset").set_index("metric").paper_value
    mean = weights[weights.norm == norm].groupby("layer")[list(MEMBERS)].mean()
    rows = []
    for layer in LAYERS:
        row = {"layer": layer}
        for m in MEMBERS:
            row[f"paper p({m})"] = paper.get(f"weight {m} {layer}", float("nan"))
            row[f"ours p({m})"] = mean.loc[layer, m]
        rows.append(row)
    return pd.DataFrame(rows)


def table1_caption(dataset: str, norm: str, seeds: list[int]) -> str:
    """The line above :func:`table1_view`."""
    return f"Paper A Table 1 ({dataset}) beside ours ({norm} reading, mean over seeds {seeds}):"


def table1_view(side_by_side: pd.DataFrame) -> Table:
    """:func:`beside_table1` with one header per member over its paper and ours columns; the paper's numbers as
    printed, ours to three decimals."""
    grouped = pd.MultiIndex.from_tuples([("layer", "")] + [(c.split()[1], c.split()[0])
                                                           for c in side_by_side.columns[1:]])
    return show_table(side_by_side.set_axis(grouped, axis=1),
                      formats={c: "{:g}" if c[1] == "paper" else "{:.3f}" for c in grouped[1:]})


def weights_by_norm(weights: pd.DataFrame) -> tuple[plt.Figure, pd.DataFrame]:
    """Bars of each layer's weights per member, one panel per reading of eq. 9 (sd over seeds), and their data:
    layer, norm, seed, member, weight."""
    long = weights.melt(id_vars=["layer", "norm", "seed"], value_vars=list(MEMBERS), var_name="member",
                        value_name="weight")
    grid = sns.catplot(data=long, x="layer", y="weight", hue="member", col="norm", kind="bar", errorbar="sd",
                       height=3.2, aspect=1.0)
    grid.set_axis_labels("", "mixture weight p")
    grid.set_titles("norm: {col_name}")
    return grid.figure, long


def simplex_title(norm: str, seed: int, images: int) -> str:
    """The title of the simplex figure: which run and how many images the loss is measured on."""
    return (f"Training loss over layer 1's mixture weights, rest of the net as trained\n({norm} reading, seed {seed}, "
            f"{images} training images)")


def simplex_glue(flat: dict, learned: dict, profile: str, epochs: int, train_images: int, images: int) -> dict[str, str]:
    """The simplex section's sentence, as glue names → text.

    ``flat`` is :func:`mixact_lib.studies.simplex.flatness` of the surface, ``learned`` the learned point
    :func:`~mixact_lib.studies.simplex.simplex_loss` returns (``p_relu``, ``p_tanh``, ``p_sin``); ``train_images``
    the net's training set, ``images`` how many of them the loss is measured on.
    """
    gap = flat["loss_learned"] - flat["loss_min"]
    return {"a_loss_min": f"{flat['loss_min']:.3f}", "a_loss_max": f"{flat['loss_max']:.3f}",
            "a_loss_range": f"{flat['range']:.3f}", "a_acc_min": f"{flat['accuracy_min']:.3f}",
            "a_acc_max": f"{flat['accuracy_max']:.3f}", "a_best_vertex": flat["best_vertex"],
            "a_loss_best_vertex": f"{flat['loss_best_vertex']:.3f}",
            "a_p_hat": ", ".join(f"{m} {learned[f'p_{m}']:.2f}" for m in MEMBERS),
            "a_loss_learned": f"{flat['loss_learned']:.3f}",
            "a_learned_vs_lowest": ("the lowest of all points evaluated" if gap <= 0 else
                                    f"{gap:.3f} above the lowest point"),
            "a_near_change": f"{flat['near_change']:.4f}",
            "a_near_percent": f"{100 * flat['near_change'] / flat['loss_learned']:.1f} %",
            "a_simplex_net": (f"{profile} profile, {epochs} epoch{'s' if epochs != 1 else ''} per cycle on "
                              f"{train_images} training images, the loss measured on {images} of them")}


def learned_shapes(table: pd.DataFrame, seed: int, lo: float = -6.0, hi: float = 6.0) -> tuple[plt.Figure, pd.DataFrame]:
    """Each layer's learned f(x) of the runs of ``seed``, one panel per reading of eq. 9, the uniform start dashed;
    and the curves' data (x, y, layer, norm)."""
    curves = []
    for r in table[table.seed == seed].itertuples():
        curves.append(plots.activation_curves(rebuild_activations(r.folder), lo=lo, hi=hi).assign(norm=r.norm))
    curves = pd.concat(curves, ignore_index=True)
    start = plots.activation_curves({"start": make_activation("mix")}, lo=lo, hi=hi)
    fig = plots.plot_activation_curves(curves, col="norm", title="learned f(x) per layer")
    for ax in fig.axes:
        ax.plot(start.x, start.y, ls="--", color="0.5", lw=1)
    return fig, curves


def claims_per_run(table: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """Paper A's qualitative claim on each run (a description, not a test): the member with the largest weight
    per layer, whether it is ReLU in layer 1 and whether tanh or sin outweighs ReLU in every deeper layer
    (:func:`mixact_lib.analysis.reproduction.paper_a_claims_per_run`). One row per reading and seed."""
    holds = paper_a_claims_per_run(table.folder.tolist()).assign(norm=table.norm.to_numpy(), seed=table.seed.to_numpy())
    top = weights.set_index(["norm", "seed", "layer"])[list(MEMBERS)].idxmax(axis=1).unstack("layer")
    top = top.rename(columns=lambda layer: f"{layer} top").reset_index()
    claims = top.merge(holds.rename(columns={"layer1_relu": "layer 1 is ReLU",
                                             "deeper_convergent": "deeper are tanh/sin"}), on=["norm", "seed"])
    return claims[["norm", "seed", *(f"{layer} top" for layer in LAYERS), "layer 1 is ReLU", "deeper are tanh/sin"]]


def claims_view(claims: pd.DataFrame) -> Table:
    """:func:`claims_per_run` with grouped headers (largest weight per layer, claim holds), which keep it narrow."""
    return show_table(claims.set_axis(pd.MultiIndex.from_tuples(
        [("reading", ""), ("seed", ""), ("largest weight", "layer 1"), ("largest weight", "layer 2"),
         ("largest weight", "layer 3"), ("claim holds", "layer 1: ReLU"), ("claim holds", "deeper: tanh or sin")]),
        axis=1))


def claims_glue(claims: pd.DataFrame, profile: str) -> dict:
    """The sentence under :func:`claims_view`, as glue names → values: runs, and in how many each claim holds."""
    return {"a_runs": len(claims), "a_layer1_relu": int(claims["layer 1 is ReLU"].sum()),
            "a_deeper_convergent": int(claims["deeper are tanh/sin"].sum()), "a_profile": profile}
