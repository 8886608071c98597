"""What paper C's AdAct learned for x < 0: its effective negative slope per layer, beside Optimized's PReLU.

Paper C §2 defines, per layer,

    AdAct(x) = Σ_{k=1}^{7} p_k · Act_k(x),   p = softmax(w),
    Act = (ReLU, ELU, LReLU, PReLU, RReLU, SiLU, Mish),

and ConvNet-Optimized (appendix A.1) rebuilds the net with each layer's arg max_k p_k and trains it
again. Four members are piecewise linear with slope 1 for x ≥ 0 and slope s_k for x < 0:

    s_ReLU = 0,   s_LReLU = its fixed slope (0.01),   s_PReLU = α (learned),
    s_RReLU = (l + u)/2 (its slope in evaluation; training draws s ~ U(l, u)).

Their sum is one leaky ReLU with slope Σ_k p_k·s_k, whichever of them carries the weight, so the
arg max among them is barely identifiable: only their weighted negative slope is learned. This module
reads that slope back from finished runs (chapter ``reproduction``, section on AdAct's slopes):

- the **effective slope** of a layer is the ordinary least-squares slope b of the line a + b·x fitted to
  the rebuilt module's f(x) (evaluation mode) on an even grid over x ∈ [−3, 0];
- the **linear part's slope** is Σ_k p_k·s_k over the four piecewise-linear members alone.

The least-squares slope is linear in f, so the effective slope is the linear part's slope plus
Σ_k p_k·b_k over ELU, SiLU and Mish (b_k: each member's own least-squares slope on the same grid);
for a mixture of the piecewise-linear members only, the two are equal.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..analysis.results import rebuild_activations
from ..runs.folders import run_folders

#: the x range of the least-squares fit of the effective negative slope
SLOPE_RANGE = (-3.0, 0.0)
#: AdAct's members that are x for x ≥ 0 and s·x for x < 0
PIECEWISE_LINEAR = ("relu", "lrelu", "prelu", "rrelu")


def member_negative_slope(name: str, member: nn.Module) -> float:
    """s_k of a piecewise-linear member: 0 (ReLU), its slope (LReLU), α (PReLU), (l + u)/2 (RReLU)."""
    if name == "relu":
        return 0.0
    if name == "lrelu":
        return float(member.negative_slope)
    if name == "prelu":
        if member.weight.numel() != 1:
            raise ValueError(f"PReLU has {member.weight.numel()} slopes (one per channel); one slope per layer "
                             "needs num_parameters=1, as paper C's AdAct uses")
        return float(member.weight.detach())
    if name == "rrelu":
        return (float(member.lower) + float(member.upper)) / 2
    raise ValueError(f"{name!r} is not piecewise linear; the members that are: {', '.join(PIECEWISE_LINEAR)}")


def _layer_weights(module: nn.Module) -> dict[str, float]:
    if not hasattr(module, "member_names") or not hasattr(module, "weights"):
        raise ValueError(f"{type(module).__name__} is not a mixture; pass an AdAct (or Mix) module")
    if module.per_channel:
        raise ValueError("a per-channel mixture has one slope per channel; these slopes are per layer, as paper "
                         "C's AdAct is: rebuild it with per_channel=False")
    return dict(zip(module.member_names, module.weights().detach().double().tolist()))


def linear_part_slope(module: nn.Module) -> float:
    """Σ_k p_k·s_k over the mixture's piecewise-linear members (not renormalised: the others add 0 here)."""
    p = _layer_weights(module)
    return float(sum(p[m] * member_negative_slope(m, module.members[m]) for m in PIECEWISE_LINEAR if m in p))


def effective_slope(module: nn.Module, lo: float = SLOPE_RANGE[0], hi: float = SLOPE_RANGE[1],
                    n: int = 601) -> float:
    """Least-squares slope b of a + b·x fitted to f(x) on ``n`` even points of [lo, hi], f in eval mode.

    Evaluation mode matters for RReLU: there it is the leaky ReLU with slope (l + u)/2, so the slope
    is a property of the function, not of a random draw. The module is put back in its own mode.
    """
    if not lo < hi or n < 2:
        raise ValueError(f"need lo < hi and n >= 2, got lo={lo}, hi={hi}, n={n}")
    x = torch.linspace(lo, hi, n)
    was_training = module.training
    module.eval()
    with torch.no_grad():
        y = module(x).double().numpy()
    module.train(was_training)
    return float(np.polyfit(x.double().numpy(), y, 1)[0])


def _seed_folders(study: Path, network: str) -> dict[int, Path]:
    folders = {}
    for folder in run_folders(study / network):
        seed = json.loads((folder / "config.json").read_text())["seed"]
        folders[int(seed)] = folder
    return folders


def negative_slopes(study: str | Path) -> pd.DataFrame:
    """Per AdAct run and layer: effective and linear-part slopes, beside Optimized's learned PReLU α.

    ``study`` is one dataset's protocol folder, e.g. ``results/paper_c/fmnist``, holding
    ``adact/seed<k>`` and ``optimized/seed<k>``; runs pair by seed. ``optimized_member`` is the layer's
    arg max in the AdAct run (``dominant_activations``: what Optimized was built from);
    ``optimized_prelu_slope`` is the retrained Optimized net's α where that member is PReLU and the
    run exists, NaN otherwise. Columns: seed, layer, effective_slope, linear_part_slope,
    optimized_member, optimized_prelu_slope.
    """
    study = Path(study)
    adact = _seed_folders(study, "adact")
    if not adact:
        raise ValueError(f"no finished AdAct runs under {study / 'adact'}; "
                         "run `python tools/reproduce.py --paper c` first")
    optimized = _seed_folders(study, "optimized")
    rows = []
    for seed, folder in sorted(adact.items()):
        summary = json.loads((folder / "summary.json").read_text())
        sites = list(summary.get("activation_state", {}))  # forward order, as rebuild_activations numbers them
        dominant = summary.get("dominant_activations", {})
        opt_state = (json.loads((optimized[seed] / "summary.json").read_text()).get("activation_state", {})
                     if seed in optimized else {})
        for site, (layer, module) in zip(sites, rebuild_activations(folder).items()):
            member = dominant.get(site)
            alpha = opt_state.get(site, {}).get("weight") if member == "prelu" else None
            rows.append({"seed": seed, "layer": layer, "effective_slope": effective_slope(module),
                         "linear_part_slope": linear_part_slope(module), "optimized_member": member,
                         "optimized_prelu_slope": float(np.mean(alpha)) if alpha is not None else np.nan})
    return pd.DataFrame(rows, columns=["seed", "layer", "effective_slope", "linear_part_slope", "optimized_member",
                                       "optimized_prelu_slope"])


def slope_differences(slopes: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """AdAct's slope − Optimized's PReLU α, paired by seed, per layer where at least 2 seeds have both.

    ``slopes`` is :func:`negative_slopes`'s table. One row per layer and measure (``effective`` and
    ``linear part``) with :func:`mixact_lib.analysis.stats.paired_difference`'s n, mean_diff, ci_low, ci_high
    and p_value. Layers are tested one by one: two layers of one run share its seed, so pooling them
    would count dependent pairs as independent.
    """
    from ..analysis.stats import paired_difference

    rows = []
    paired = slopes.dropna(subset=["optimized_prelu_slope"])
    for layer, d in paired.groupby("layer", sort=False):
        if len(d) < 2:
            continue
        for measure, column in (("effective", "effective_slope"), ("linear part", "linear_part_slope")):
            test = paired_difference(d[column], d.optimized_prelu_slope, confidence)
            rows.append({"layer": layer, "measure": measure, "seeds": ", ".join(map(str, sorted(d.seed))),
                         **{k: test[k] for k in ("n", "mean_diff", "ci_low", "ci_high", "p_value")}})
    return pd.DataFrame(rows, columns=["layer", "measure", "seeds", "n", "mean_diff", "ci_low", "ci_high", "p_value"])
