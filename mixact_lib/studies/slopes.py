"""Paper B's learned slopes read back from finished runs: what a did, and what it did to the step.

Paper B (eq. 23) reads the slope a of an adaptive activation as a learning rate, η̃ = η·a. Compared
as functions (chapter ``paper-b-derivation``, :mod:`mixact_lib.studies.function_space`), an inner slope is a
rescaled plain layer, for any f:

    f(a·(W x + β) + c) = f(W′ x + β′),   W′ = a·W,  β′ = a·β + c,

and AReLU, max(a·z + c, b·z + d) = g(a·z) with g(u) = max(u + c, (b/a)·u + d) for a > 0, has its
a as an inner slope too (g's shape then depends on b/a). So for a fixed a one step at rate η on
the layer's weight W and bias β moves (W′, β′) like

- SGD and heavy-ball momentum at **η·a²** (same momentum coefficient);
- Adam, AdamW, AdaGrad and RMSprop at **η·|a|** (with ε/|a|; AdamW's decoupled decay λ → λ/|a|);
- AdaDelta at no single rate: same lr and ρ, but its ε inside the numerator's root becomes a²ε
  and the one inside the denominator's root ε/a².

This module applies that reading to the per-epoch histories a run writes
(:func:`mixact_lib.training.train`): the trajectories of a, b, c, d per activation site
(:func:`activation_param_trajectories`), the rate a implies under the run's own optimiser and
learning rate of each epoch (:func:`effective_rates`), and paper B's Fig. 4 increment relative to
the layer's size, ‖ΔW‖/‖W‖ (:func:`relative_weight_increments`). The chapter ``paper-b`` reads its
runs with the per-layer views (:func:`delta_w_norms`, :func:`relative_increments`), compares AReLU's
first-step increments with ReLU's (:func:`early_increments`), and reads the final a, b, c, d of every
site (:func:`learned_abcd`, :func:`unmoved_b_d`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.rank_tests import corrected_verdicts
from ..analysis.results import paired_differences
from ..runs.folders import load_histories

#: the fixed function each of paper B's adaptive functions starts as (eqs. 10–13)
FIXED = {"asigmoid": "sigmoid", "atanh": "tanh", "arelu": "relu"}

#: optimiser → (power p of |a| in the implied rate lr·|a|^p, the rule as text); ``None``: no rate
RATE_RULES: dict[str, tuple[int | None, str]] = {
    "sgd": (2, "lr·a²"), "momentum": (2, "lr·a²"),
    "adam": (1, "lr·|a|"), "adamw": (1, "lr·|a|"), "adagrad": (1, "lr·|a|"), "rmsprop": (1, "lr·|a|"),
    "adadelta": (None, "no single rate"),
}
ADADELTA_NOTE = "no single rate: AdaDelta keeps lr and ρ, its ε's become a²ε (numerator) and ε/a² (denominator)"


def _read(folder: Path, name: str):
    path = folder / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: is {folder} a finished run folder (config.json, history.json)?")
    return json.loads(path.read_text())


def _identity(folder: Path) -> dict:
    """model, activation and seed of a run, from its config.json (missing keys become None)."""
    config = _read(folder, "config.json") if (folder / "config.json").exists() else {}
    return {"folder": str(folder), **{k: config.get(k) for k in ("model", "activation", "seed")}}


def activation_param_trajectories(folders: list[str | Path]) -> pd.DataFrame:
    """a, b, c, d of every adaptive activation site after every epoch, tidy, one row per run × epoch × site.

    Columns: folder, model, activation, seed, epoch, phase, layer (``layer i``), layer_index (i),
    site (the module path), a, b, c, d. Reads the ``activations`` record of ``history.json``;
    only sites with paper B's four scalars are kept, i.e. ASigmoid and ATanh,
    f_A(z) = b·f(a·z + c) + d (eqs. 10–11), and AReLU, max(a·z + c, b·z + d) (eq. 12). Sites are
    numbered in the order the model applies them, as in :func:`mixact_lib.analysis.results.rebuild_activations`.
    The value of an epoch is the one after its last step. Runs without such sites give no rows.
    """
    rows = []
    for folder in map(Path, folders):
        who = _identity(folder)
        for record in _read(folder, "history.json"):
            sites = [(s, v) for s, v in (record.get("activations") or {}).items() if set(v) == set("abcd")]
            for i, (site, values) in enumerate(sites, start=1):
                rows.append({**who, "epoch": record["epoch"], "phase": record.get("phase"), "layer": f"layer {i}",
                             "layer_index": i, "site": site, **{k: float(values[k]) for k in "abcd"}})
    if not rows:
        raise ValueError(f"no ASigmoid, ATanh or AReLU parameters (a, b, c, d) in the histories of {len(folders)} "
                         "run(s); pass runs trained with one of paper B's adaptive functions")
    return pd.DataFrame(rows)


def effective_rates(trajectories: pd.DataFrame, histories: pd.DataFrame | None = None) -> pd.DataFrame:
    """The learning rate each site's slope a implies for the layer in front of it, per epoch.

    For an inner slope a, f(a·(W x + β) + c) is the plain layer f(W′x + β′) with W′ = a·W (module
    docstring). One step at rate lr on (W, β) then moves (W′, β′) as the same optimiser would at

        effective_lr = lr · |a|^p,   p = 2 for SGD and momentum, p = 1 for Adam, AdamW, AdaGrad
        and RMSprop,

    the paper's η̃ = η·a (eq. 23) being right for the adaptive optimisers and off by a factor a
    for SGD. AdaDelta has no such rate (its ε's rescale instead), so its rows get NaN and a ``note``.
    ``rate_ratio`` = |a|^p is effective_lr ÷ the rate of the same layer with a fixed activation.
    Where BatchNorm sits between the layer and the activation (most convolutions of the networks
    here), the rescaled parameters are BN's γ and β (aγ, aβ), not W, whose scale BN removes; after
    a residual sum, a rescales every path into it. The rate is the fixed-a reading at the epoch's
    final a; when a learns alongside W, the layer follows the preconditioned flow
    −lr·(a²I + w wᵀ)∇_{w′}L (SGD) instead.

    ``trajectories`` is :func:`activation_param_trajectories`'s table; ``histories`` gives the
    ``optimizer`` and ``lr`` of every epoch (e.g. :func:`mixact_lib.runs.folders.load_histories` on the
    same runs, whose ``folder`` column must match); ``None`` reads them from each run's history.json.
    Adds optimizer, lr, rule, rate_ratio, effective_lr and note.
    """
    per_epoch = ["folder", "epoch", "optimizer", "lr"]
    if histories is None:
        histories = pd.DataFrame([{"folder": str(f), **{k: r[k] for k in per_epoch[1:]}}
                                  for f in dict.fromkeys(trajectories["folder"])
                                  for r in _read(Path(f), "history.json")], columns=per_epoch)
    missing = [c for c in per_epoch if c not in histories.columns]
    if missing:
        raise ValueError(f"histories lacks column(s) {missing}; pass mx.load_histories(root) of the same runs "
                         "(or histories=None to read each run's history.json)")
    keyed = histories[per_epoch].drop_duplicates(["folder", "epoch"]).assign(folder=lambda h: h.folder.astype(str))
    out = trajectories.drop(columns=[c for c in ("optimizer", "lr") if c in trajectories.columns]).merge(
        keyed, on=["folder", "epoch"], how="left", validate="many_to_one")
    unmatched = out.loc[out.optimizer.isna(), "folder"].unique()
    if len(unmatched):
        raise ValueError(f"no optimizer/lr in histories for {len(unmatched)} run(s), e.g. {unmatched[0]!r}: the "
                         "folder names must match those of the trajectories (or pass histories=None)")
    optimizers = out.optimizer.str.lower()
    unknown = sorted(set(optimizers) - set(RATE_RULES))
    if unknown:
        known = "; ".join(f"{rule} for {', '.join(o for o, (_, r) in RATE_RULES.items() if r == rule)}"
                          for rule in dict.fromkeys(r for _, r in RATE_RULES.values()))
        raise ValueError(f"unknown optimiser(s) {unknown}: the implied rate is derived only for these ({known}); "
                         "add the optimiser's rule to mixact_lib.studies.slopes.RATE_RULES with its derivation")
    power = optimizers.map(lambda o: RATE_RULES[o][0]).astype(float)  # NaN for AdaDelta
    out["rule"] = optimizers.map(lambda o: RATE_RULES[o][1])
    out["rate_ratio"] = np.where(power.isna(), np.nan, np.abs(out.a) ** power)  # 1 ** nan would be 1
    out["effective_lr"] = out.lr * out.rate_ratio
    out["note"] = np.where(power.isna(), ADADELTA_NOTE, "")
    return out


def relative_weight_increments(folders: list[str | Path]) -> pd.DataFrame:
    """Paper B's Fig. 4 increment relative to the layer's size, per run, epoch and weight layer.

        relative_delta_w = ‖W_l(e) − W_l(e−1)‖_F / ‖W_l(e−1)‖_F

    with ‖W_l(e−1)‖_F the ``weight_norm`` recorded at the end of the previous epoch, and for epoch 1
    the ``weight_norm_initial`` recorded before the first step. The raw ‖ΔW‖ is not a measure of
    learning speed across activations: f(a·(Wx + β)) = f(W′x + β′) with W′ = a·W, so an AReLU
    network can change its raw ‖ΔW‖ by rescaling W against a without changing its function; the
    ratio is unchanged by that rescaling. Columns: folder, model, activation, seed, epoch, layer (the
    module path), layer_index (1 = first conv/linear layer in forward order), delta_w,
    weight_norm_before, relative_delta_w.
    """
    rows = []
    for folder in map(Path, folders):
        who = _identity(folder)
        history = _read(folder, "history.json")
        if not history or "weight_norm" not in history[0] or "weight_norm_initial" not in history[0]:
            raise ValueError(f"{folder}/history.json has no weight norms (weight_norm, weight_norm_initial): the run "
                             "predates them; re-run it (mixact_lib sweep with its sweep file) to record them")
        before = history[0]["weight_norm_initial"]
        for record in history:
            for i, (layer, step) in enumerate(record["delta_w"].items(), start=1):
                rows.append({**who, "epoch": record["epoch"], "layer": layer, "layer_index": i, "delta_w": step,
                             "weight_norm_before": before[layer], "relative_delta_w": step / before[layer]})
            before = record["weight_norm"]
    return pd.DataFrame(rows)


def delta_w_norms(runs: pd.DataFrame, layers: list[int]) -> pd.DataFrame:
    """‖ΔW‖ per epoch of the weight layers numbered ``layers`` (1 = first conv/linear layer, forward order), tidy:
    model, activation, seed, epoch, layer (``layer k (module path)``), delta_w. Layers past the last are left
    out. ``runs`` is a table of :func:`mixact_lib.runs.folders.collect_summaries`; every run under its
    ``attrs["root"]`` is read."""
    histories = load_histories(runs.attrs["root"])
    layer_cols = [c for c in histories.columns if c.startswith("delta_w.")]  # forward (definition) order
    names = {layer_cols[k - 1]: f"layer {k} ({layer_cols[k - 1][8:]})" for k in layers if k <= len(layer_cols)}
    norms = histories.melt(id_vars=["model", "activation", "seed", "epoch"], value_vars=list(names), var_name="layer",
                           value_name="delta_w")
    return norms.assign(layer=norms.layer.map(names))


def relative_increments(runs: pd.DataFrame, layers: list[int]) -> pd.DataFrame:
    """‖ΔW‖ / ‖W before the epoch‖ (:func:`relative_weight_increments`) of the runs' weight layers numbered
    ``layers``, named as in :func:`delta_w_norms`."""
    rel = relative_weight_increments(runs.folder)
    rel = rel[rel.layer_index.isin(layers)]
    return rel.assign(layer=[f"layer {k} ({name})" for k, name in zip(rel.layer_index, rel.layer)])


def early_increments(norms: pd.DataFrame, rel: pd.DataFrame, first_step: int,
                     alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """AReLU against ReLU over the first ``first_step`` epochs, per layer (mean over those epochs, per seed).

    ``norms`` is :func:`delta_w_norms`' table, ``rel`` :func:`relative_increments`'. Returns the raw ratio
    ‖ΔW‖ AReLU ÷ ReLU (mean, min and max over seeds, by layer) and the relative increment AReLU − ReLU paired
    by seed, one family over the layers (p Holm-corrected,
    :func:`mixact_lib.analysis.rank_tests.corrected_verdicts` at ``alpha``), with ``relu_level``, ReLU's
    mean relative increment. Both empty when AReLU or ReLU is missing.
    """
    early = norms[norms.epoch <= first_step].groupby(["layer", "activation", "seed"]).delta_w.mean()
    early = early.unstack("activation")
    if not {"relu", "arelu"} <= set(early.columns):
        return pd.DataFrame(), pd.DataFrame()
    ratio = (early.arelu / early.relu).groupby("layer").agg(["mean", "min", "max"])
    early_rel = rel[rel.epoch <= first_step].groupby(["layer", "activation", "seed"]).relative_delta_w.mean()
    pairs = paired_differences(early_rel.reset_index(), [("relu", "arelu")], "relative_delta_w", by="layer")
    pairs = corrected_verdicts(pairs, "holm", alpha)
    relu_level = early_rel.xs("relu", level="activation").groupby("layer").mean()
    return ratio, pairs.assign(relu_level=pairs.layer.map(relu_level))


def weight_trace_increments(folders: list[str | Path]) -> pd.DataFrame:
    """Paper B's Fig. 4 as drawn: the signed increment w(e) − w(e−1) of each traced scalar weight, tidy.

    Reads the ``weight_trace`` each epoch's history holds (:func:`mixact_lib.training.metrics.weight_trace`:
    four fixed weights in each of weight layers 1, 5 and 9). Columns: folder, model, activation, seed,
    epoch, layer (module path), layer_index (1 = first conv/linear layer in forward order), weight (its
    flat index in the layer's weight), weight_rank (1–4: the figure's row), increment.
    """
    rows = []
    for folder in map(Path, folders):
        who = _identity(folder)
        history = _read(folder, "history.json")
        if not history or "weight_trace" not in history[0]:
            raise ValueError(f"{folder}/history.json has no weight_trace: the run predates it; re-run it into a new "
                             "folder (e.g. grids/paper_b_fmnist_cpu/weight_trace.yaml) to record it")
        index = {layer: i for i, layer in enumerate(history[0]["delta_w"], start=1)}  # every weight layer, in order
        for record in history:
            for layer, weights in record["weight_trace"].items():
                for rank, (weight, step) in enumerate(weights.items(), start=1):
                    rows.append({**who, "epoch": record["epoch"], "layer": layer, "layer_index": index[layer],
                                 "weight": int(weight), "weight_rank": rank, "increment": step})
    return pd.DataFrame(rows)


def branch_gaps(trajectories: pd.DataFrame, near: float = 0.01) -> pd.DataFrame:
    """How far AReLU's two branches are apart after the last epoch, per model: |a − b| and |c − d|.

    AReLU, max(a·z + c, b·z + d), is linear while a = b and c = d. From the authors' start
    (a = b = 1, c = d = 0) it leaves that tie only as fast as the first-branch gradients move a and
    c (``make_activation("arelu", start="authors")``). ``trajectories`` is
    :func:`activation_param_trajectories`'s table of AReLU runs. One row per model: sites (run ×
    site), median and largest |a − b|, median |c − d|, and ``share_near_linear``, the share of sites
    with both gaps below ``near``.
    """
    last = trajectories[trajectories.epoch == trajectories.groupby("folder").epoch.transform("max")]
    gaps = last.assign(slope_gap=(last.a - last.b).abs(), offset_gap=(last.c - last.d).abs())
    gaps = gaps.assign(near_linear=(gaps.slope_gap < near) & (gaps.offset_gap < near))
    return gaps.groupby("model", sort=False).agg(
        sites=("slope_gap", "size"), median_slope_gap=("slope_gap", "median"), max_slope_gap=("slope_gap", "max"),
        median_offset_gap=("offset_gap", "median"), share_near_linear=("near_linear", "mean")).reset_index()


def learned_abcd(runs: pd.DataFrame) -> pd.DataFrame:
    """The final a, b, c, d of every ASigmoid, ATanh and AReLU site of ``runs`` (from each run's summary.json), one
    row per run × site: model, activation, seed, site, a, b, c, d."""
    rows = []
    for _, r in runs[runs.activation.isin(list(FIXED))].iterrows():
        for site, v in json.loads((Path(r.folder) / "summary.json").read_text())["activation_params"].items():
            rows.append({"model": r.model, "activation": r.activation, "seed": r.seed, "site": site,
                         **{k: v[k] for k in "abcd"}})
    return pd.DataFrame(rows)


def unmoved_b_d(learned: pd.DataFrame, near: float = 0.01) -> pd.DataFrame:
    """Per model and smooth function (ASigmoid, ATanh) of :func:`learned_abcd`: how many sites × seeds, and how many
    ended with b within ``near`` of its start 1 and d within ``near`` of its start 0."""
    smooth = learned[learned.activation.isin(["asigmoid", "atanh"])]
    still = smooth.assign(b_still=(smooth.b - 1).abs() < near, d_still=smooth.d.abs() < near)
    return still.groupby(["model", "activation"]).agg(site_runs=("site", "size"), b_unmoved=("b_still", "sum"),
                                                      d_unmoved=("d_still", "sum"))
