"""The training loss over paper A's weight simplex, one layer of a trained net at a time: how flat is it?

Paper A (eq. 10) gives every activation layer the form

    f(x) = p₁·ReLU(x) + p₂·tanh(x) + p₃·sin(x),
    p = normalise(w) ∈ Δ² = {p : p_i ≥ 0, p₁ + p₂ + p₃ = 1},

and learns the raw weights w in its second cycle, with the rest of the network frozen. Eq. 9, the map
w → p, was lost in extraction; our readings are softmax, abs and square
(:func:`mixact_lib.activations.mixture.normalise`). Hold every parameter of a trained net at its final
value except layer ℓ's weights, and the loss becomes a function L(p) on the triangle Δ². Its range over
Δ², beside its value at the learned p̂, says how much the second cycle can gain and how well the data
determine p̂ (issue 16: in the full protocol's cycle 2 the train loss moved only 0.0424 → 0.0399).

:func:`simplex_loss` evaluates L (and the accuracy) on the barycentric grid of resolution n,

    p = (i, j, n − i − j) / n,   i, j ≥ 0,  i + j ≤ n      ((n + 1)(n + 2)/2 points, vertices included),

at p̂, and at the six points that move a ``step`` δ of weight from one member to another,
p̂ + δ_ij·(e_i − e_j) with δ_ij = min(δ, p̂_j) so that they stay on Δ² — in eval mode, without gradients.
A net costs one pass over the data per point, so the local look costs 6 passes where a grid fine
enough to resolve δ = 0.1 would cost 66. Each p is set exactly through the inverse of the run's reading
(:func:`raw_weights`): w = log p for softmax (log 0 = −∞, which softmax maps back to exactly 0), w = √p for
square, w = p for abs and none, so a vertex *is* the net with that single function in layer ℓ.
Chapter ``paper-a`` draws L over the triangle with :func:`mixact_lib.report.plots.plot_simplex_loss`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..activations import Mix, activation_sites
from ..data import Split
from ..runs.config import RunConfig
from ..runs.runner import build_run_model
from ..training import evaluate, read_json
from ..training.records import CHECKPOINT, load_checkpoint


def raw_weights(p: Tensor, norm: str) -> Tensor:
    """Raw weights w with normalise(w, norm) = p, for p on the simplex (the inverse of eq. 9's readings)."""
    p = torch.as_tensor(p, dtype=torch.float32)
    if norm == "softmax":
        return torch.log(p)  # −∞ where p_i = 0: softmax gives exactly 0 there, as long as some p_i > 0
    if norm == "square":
        return torch.sqrt(p)
    if norm in ("abs", "none"):
        return p.clone()
    raise ValueError(f"unknown norm {norm!r}; choose one of softmax, abs, square, none")


def barycentric_grid(resolution: int) -> np.ndarray:
    """All p = (i, j, n − i − j)/n on the 2-simplex for n = ``resolution``, shape ((n+1)(n+2)/2, 3)."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be an integer >= 1 (steps along each edge), got {resolution!r}")
    n = resolution
    return np.array([(i, j, n - i - j) for i in range(n + 1) for j in range(n + 1 - i)], dtype=float) / n


def load_trained_model(folder: str | Path, image_shape: tuple[int, int, int], num_classes: int | None = None,
                       device: str | torch.device = "cpu") -> nn.Module:
    """The network of a finished run, rebuilt from its ``config.json`` with its final weights (eval mode).

    ``image_shape`` is (channels, height, width) of the inputs; ``num_classes`` defaults to the output
    size of the checkpoint's last weight matrix. Built by :func:`mixact_lib.runs.runner.build_run_model`, as
    :func:`~mixact_lib.runs.runner.run` builds it.
    """
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise ValueError(f"{folder} holds no config.json: it is not a results folder of mixact's run()")
    checkpoint = load_checkpoint(folder)
    if checkpoint is None:
        raise ValueError(f"{folder} has no {CHECKPOINT}: its final weights were not kept. Rerun it with "
                         "keep_checkpoint=True (the default of RunConfig) to look at its loss surface")
    weights = checkpoint["model"]
    config = read_json(folder / "config.json")
    if config.get("optimized_from"):
        raise ValueError(f"{folder} is a ConvNet-Optimized run: it has single activations, no mixture to vary")
    if num_classes is None:
        num_classes = [v for k, v in weights.items() if k.endswith("weight") and v.dim() == 2][-1].shape[0]
    channels, height, width = image_shape
    model = build_run_model(RunConfig.from_dict(config), num_classes, channels, (height, width))
    model.load_state_dict(weights)
    return model.to(device).eval()


def mixture_sites(model: nn.Module) -> list[Mix]:
    """The mixture activations of ``model`` in forward order: paper A's layers 1, 2, 3."""
    return [module for _, module in activation_sites(model) if isinstance(module, Mix)]


def steps_from(learned: np.ndarray, step: float) -> np.ndarray:
    """The six points p̂ + δ_ij·(e_i − e_j), i ≠ j, with δ_ij = min(step, p̂_j): weight moved from j to i."""
    points = []
    for i in range(3):
        for j in range(3):
            if i != j:
                p = learned.copy()
                delta = min(step, p[j])
                p[i], p[j] = p[i] + delta, p[j] - delta
                points.append(p)
    return np.array(points)


def simplex_loss(folder: str | Path, layer: int, split: Split | tuple[Tensor, Tensor], resolution: int = 10,
                 step: float | None = 0.1, batch_size: int = 250) -> tuple[pd.DataFrame, pd.Series]:
    """Loss and accuracy on ``split`` with layer ``layer``'s mixture set to every p of the simplex grid.

    ``folder`` is a finished run that kept its checkpoint; ``layer`` counts the mixture sites from 1 in
    forward order; ``split`` is a :class:`~mixact_lib.data.Split` or a pair (images, labels). Every other
    parameter keeps its trained value. ``step`` adds the six points δ away from p̂ (None: none). Returns
    the tidy table (``p_<member>`` for each of the three members, ``loss`` = mean cross-entropy,
    ``accuracy``, ``point``: grid, step or learned, and ``learned``: whether the row is p̂), grid first and
    p̂ last, and p̂'s row on its own. (Batches of 250 run faster than 1000 on a CPU: they stay in cache.)
    """
    images, labels = (split.x, split.y) if isinstance(split, Split) else split
    model = load_trained_model(folder, tuple(images.shape[1:]), device=images.device)
    sites = mixture_sites(model)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= len(sites):
        raise ValueError(f"layer must be an integer from 1 to {len(sites)} (the run's mixture sites in forward "
                         f"order), got {layer!r}" if sites else f"{folder} has no mixture activation to vary")
    site = sites[layer - 1]
    if len(site.member_names) != 3:
        raise ValueError(f"layer {layer} mixes {len(site.member_names)} members {list(site.member_names)}; "
                         "the simplex figure is for paper A's three (ReLU, tanh, sin)")
    if site.per_channel:
        raise ValueError(f"layer {layer} learns one p per channel; the simplex of one layer needs paper A's one p "
                         "per layer (per_channel=False)")
    learned = site.mean_weights().cpu().numpy().astype(float)
    grid = barycentric_grid(resolution)
    near = steps_from(learned, step) if step else np.empty((0, 3))
    points = np.vstack([grid, near, learned])
    data = Split(images, labels)
    rows = []
    with torch.no_grad():
        for p in points:
            site.w.copy_(raw_weights(torch.tensor(p), site.norm).to(site.w).expand_as(site.w))
            loss, accuracy = evaluate(model, data, batch_size)
            rows.append({**{f"p_{m}": float(v) for m, v in zip(site.member_names, p)},
                         "loss": loss, "accuracy": accuracy})
    table = pd.DataFrame(rows)
    table["point"] = ["grid"] * len(grid) + ["step"] * len(near) + ["learned"]
    table["learned"] = table.point == "learned"
    return table, table.iloc[-1]


def flatness(table: pd.DataFrame, radius: float = 0.1) -> dict[str, float]:
    """How flat L is: its range over the whole simplex, and near p̂ (every p_i within ``radius`` of p̂_i).

    Keys: ``loss_learned``, ``loss_min``, ``loss_max``, ``range`` (max − min over all rows),
    ``near_range`` (max − min over the rows with max_i |p_i − p̂_i| ≤ radius, p̂ included), ``near_change``
    (the largest |L(p) − L(p̂)| among them), ``near_points``, ``accuracy_min``, ``accuracy_max``,
    ``best_vertex`` and ``loss_best_vertex``.
    """
    members = [c for c in table.columns if c.startswith("p_")]
    learned = table.loc[table.learned].iloc[0]
    distance = (table[members] - learned[members]).abs().max(axis=1)
    near = table.loc[distance <= radius + 1e-12, "loss"]
    vertices = table.loc[(table[members] == 1.0).any(axis=1)]
    best = vertices.loc[vertices.loss.idxmin()]
    return {"loss_learned": float(learned.loss), "loss_min": float(table.loss.min()),
            "loss_max": float(table.loss.max()), "range": float(table.loss.max() - table.loss.min()),
            "near_range": float(near.max() - near.min()), "near_points": int(len(near)),
            "near_change": float((near - learned.loss).abs().max()),
            "accuracy_min": float(table.accuracy.min()), "accuracy_max": float(table.accuracy.max()),
            "best_vertex": max(members, key=lambda m: best[m])[2:], "loss_best_vertex": float(best.loss)}


__all__ = ["simplex_loss", "flatness", "barycentric_grid", "steps_from", "raw_weights", "load_trained_model",
           "mixture_sites"]
