"""Paper B's learned slopes read back from runs: trajectories, implied rates, relative Δw, learned shapes."""
from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from mixact_lib.analysis import stats
from mixact_lib.runs.folders import collect_summaries
from mixact_lib.studies import slopes
from mixact_lib.data import synthetic_dataset
from mixact_lib.training import Phase, train

matplotlib.use("Agg")


def _run_folder(path, activation="arelu", history=(), state=None, seed=0):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model": "net", "activation": activation, "seed": seed,
                                                  "activation_kwargs": {}}))
    (path / "history.json").write_text(json.dumps(list(history)))
    if state is not None:
        (path / "summary.json").write_text(json.dumps({"activation_state": state}))
    return path


def _abcd(a, b=0.0, c=0.0, d=0.0):
    return {"a": a, "b": b, "c": c, "d": d}


def _history(optimizers, lrs, slope_per_epoch):
    return [{"epoch": e, "phase": 1, "optimizer": o, "lr": lr,
             "activations": {"features.act1": _abcd(a), "features.act2": _abcd(2 * a),
                             "mixer": {"weights": {"relu": 1.0}}}}  # not paper B's four scalars: left out
            for e, (o, lr, a) in enumerate(zip(optimizers, lrs, slope_per_epoch), start=1)]


def test_trajectories_keep_only_abcd_sites_numbered_in_forward_order(tmp_path):
    folder = _run_folder(tmp_path / "run", history=_history(["sgd"] * 3, [0.1] * 3, [1.0, 1.5, 2.0]))
    t = slopes.activation_param_trajectories([folder])
    assert len(t) == 3 * 2 and set(t.site) == {"features.act1", "features.act2"}
    row = t.query("epoch == 3 and layer == 'layer 2'")
    assert row.a.item() == 4.0 and row.site.item() == "features.act2" and row.layer_index.item() == 2
    assert (t.activation == "arelu").all() and (t.model == "net").all()
    with pytest.raises(ValueError, match="no ASigmoid, ATanh or AReLU"):
        slopes.activation_param_trajectories([_run_folder(tmp_path / "relu", "relu", [{"epoch": 1}])])


def test_effective_rates_follow_each_epochs_optimiser(tmp_path):
    optimizers = ["sgd", "momentum", "adam", "adamw", "adagrad", "adadelta"]
    folder = _run_folder(tmp_path / "run", history=_history(optimizers, [0.1, 0.1, 1e-3, 1e-3, 1e-2, 1.0],
                                                            [-3.0] * 5 + [1.0]))
    rates = slopes.effective_rates(slopes.activation_param_trajectories([folder])).query("layer == 'layer 1'")
    by = rates.set_index("optimizer")
    assert by.effective_lr["sgd"] == pytest.approx(0.1 * 9) and by.effective_lr["momentum"] == pytest.approx(0.9)
    assert by.effective_lr["adam"] == pytest.approx(3e-3)  # |a|: the sign of a does not flip the step size
    assert by.rate_ratio["adagrad"] == pytest.approx(3.0) and by.rule["adagrad"] == "lr·|a|"
    assert math.isnan(by.effective_lr["adadelta"]) and "a²ε" in by.note["adadelta"]  # even at a = 1
    assert math.isnan(by.rate_ratio["adadelta"])
    assert by.note["sgd"] == ""


def test_effective_rates_agree_with_the_function_space_derivation():
    from mixact_lib.studies.function_space import Hyper, derived_settings
    trajectories = pd.DataFrame([{"folder": "r", "epoch": e, "a": 2.5, "layer": "layer 1"} for e in range(1, 6)])
    optimizers = ["sgd", "momentum", "adam", "adagrad", "rmsprop"]
    histories = pd.DataFrame({"folder": "r", "epoch": range(1, 6), "optimizer": optimizers, "lr": 0.01})
    rates = slopes.effective_rates(trajectories, histories)
    for optimizer, rate in zip(rates.optimizer, rates.effective_lr):
        assert rate == pytest.approx(derived_settings(optimizer, Hyper(lr=0.01), 2.5)["lr"]), optimizer


def test_effective_rates_refuse_an_unknown_optimiser_and_unmatched_folders(tmp_path):
    folder = _run_folder(tmp_path / "run", history=_history(["lion"], [1e-4], [1.2]))
    trajectories = slopes.activation_param_trajectories([folder])
    with pytest.raises(ValueError, match=r"unknown optimiser\(s\) \['lion'\].*lr·a² for sgd, momentum"):
        slopes.effective_rates(trajectories)
    elsewhere = pd.DataFrame({"folder": ["other"], "epoch": [1], "optimizer": ["sgd"], "lr": [0.1]})
    with pytest.raises(ValueError, match="folder names must match"):
        slopes.effective_rates(trajectories, elsewhere)


def test_relative_weight_increments_divide_by_the_norm_before_the_epoch(tmp_path):
    history = [{"epoch": 1, "delta_w": {"conv1": 1.0, "fc": 2.0}, "weight_norm_initial": {"conv1": 4.0, "fc": 10.0},
                "weight_norm": {"conv1": 5.0, "fc": 8.0}},
               {"epoch": 2, "delta_w": {"conv1": 0.5, "fc": 0.4}, "weight_norm": {"conv1": 5.5, "fc": 8.1}}]
    folder = _run_folder(tmp_path / "run", history=history)
    r = slopes.relative_weight_increments([folder]).set_index(["epoch", "layer"]).relative_delta_w
    assert r[(1, "conv1")] == 0.25 and r[(1, "fc")] == 0.2 and r[(2, "conv1")] == 0.1 and r[(2, "fc")] == 0.05
    old = _run_folder(tmp_path / "old", history=[{"epoch": 1, "delta_w": {"conv1": 1.0}}])
    with pytest.raises(ValueError, match="predates them; re-run"):
        slopes.relative_weight_increments([old])


def test_relative_weight_increments_of_a_trained_run(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 8), slopes_activation(), torch.nn.Linear(8, 3))
    data = synthetic_dataset(num_train=64, num_test=16, num_classes=3, shape=(1, 8, 8), seed=0)
    first = net[1].weight.detach().clone()
    train(net, data, [Phase(2, "sgd", 0.1)], batch_size=16, out=tmp_path, progress=False)
    (tmp_path / "config.json").write_text(json.dumps({"model": "mlp", "activation": "arelu", "seed": 0}))
    r = slopes.relative_weight_increments([tmp_path])
    assert r.layer.tolist() == ["1", "3", "1", "3"] and r.layer_index.tolist() == [1, 2, 1, 2]
    epoch1 = r.query("epoch == 1 and layer == '1'").iloc[0]
    assert epoch1.weight_norm_before == pytest.approx(float(first.norm()))
    assert epoch1.relative_delta_w == pytest.approx(epoch1.delta_w / float(first.norm()))
    assert (r.relative_delta_w > 0).all()


def _finished_run(root, activation, seed, delta_w=(1.0, 2.0), final_sites=None):
    """A finished run that collect_summaries reads: three epochs of ‖ΔW‖ of conv1 and conv2 (weight norms 10 and
    20) and, in its summary, the final a, b, c, d of ``final_sites``."""
    folder = root / f"vgg-{activation}-{seed}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": "vgg", "activation": activation, "seed": seed,
                                                    "phases": [{"optimizer": "sgd", "lr": 0.1, "epochs": 3}]}))
    (folder / "summary.json").write_text(json.dumps({"model": "vgg", "activation": activation, "seed": seed,
                                                     "activation_params": final_sites or {}}))
    norms = {"conv1": 10.0, "conv2": 20.0}
    (folder / "history.json").write_text(json.dumps([{"epoch": e, "delta_w": dict(zip(norms, delta_w)),
                                                      "weight_norm_initial": norms, "weight_norm": norms}
                                                     for e in (1, 2, 3)]))
    return folder


def test_delta_w_norms_relative_increments_and_their_early_comparison(tmp_path):
    from mixact_lib.report.plots import plot_per_layer
    for seed in range(3):  # layer 1: AReLU's step 1.5 times ReLU's in every seed; layer 2: no difference
        _finished_run(tmp_path, "relu", seed, delta_w=(1 + 0.1 * seed, 2.0))
        _finished_run(tmp_path, "arelu", seed, delta_w=(1.5 * (1 + 0.1 * seed), 2.0 + (0.3, -0.2, 0.1)[seed]))
    runs = collect_summaries(tmp_path)
    runs.attrs["root"] = tmp_path
    dw = slopes.delta_w_norms(runs, [1, 2, 7])  # layer 7 does not exist: left out
    assert set(dw.layer) == {"layer 1 (conv1)", "layer 2 (conv2)"} and len(dw) == 6 * 3 * 2
    rel = slopes.relative_increments(runs, [1])
    assert set(rel.layer) == {"layer 1 (conv1)"}
    assert rel.query("activation == 'relu' and seed == 2").relative_delta_w.tolist() == pytest.approx([0.12] * 3)
    fig = plot_per_layer(rel, "relative_delta_w", "‖ΔW‖ / ‖W‖", every_epoch=True)
    assert len(fig.axes) == 1 and list(fig.axes[0].get_xticks()) == [1, 2, 3]
    ratio, pairs = slopes.early_increments(dw, slopes.relative_increments(runs, [1, 2]), 1)
    assert ratio.loc["layer 1 (conv1)", "mean"] == pytest.approx(1.5) and len(pairs) == 2
    assert pairs.set_index("layer").relu_level["layer 1 (conv1)"] == pytest.approx(0.11)  # (0.1 + 0.11 + 0.12) / 3
    assert pairs.p_adjusted.to_numpy() == pytest.approx(stats.adjust(pairs.p_value, "holm"))  # over the layers
    assert pairs.verdict.tolist() == ["better", "inconclusive"]  # layer 1: +0.05, +0.055, +0.06
    assert slopes.early_increments(dw[dw.activation == "relu"], rel, 1)[1].empty  # no AReLU: nothing to compare


def test_learned_abcd_reads_every_adaptive_site_and_unmoved_b_d_counts_the_smooth_ones(tmp_path):
    def sites(a):
        return {"body.act1": {"a": a, "b": 1.0, "c": 0.0, "d": 0.0},
                "body.act2": {"a": 1.0, "b": 1.004, "c": 0.0, "d": 0.02}}
    for seed, last in enumerate((1.5, 0.5)):
        _finished_run(tmp_path, "arelu", seed, final_sites=sites(last))
    _finished_run(tmp_path, "atanh", 0, final_sites=sites(1.02))
    _finished_run(tmp_path, "relu", 0)
    learned = slopes.learned_abcd(collect_summaries(tmp_path))
    assert len(learned) == 6 and set(learned.activation) == {"arelu", "atanh"}
    assert learned.query("activation == 'arelu' and site == 'body.act1'").a.tolist() == [1.5, 0.5]
    still = slopes.unmoved_b_d(learned)
    assert still.index.tolist() == [("vgg", "atanh")]  # AReLU's b and d are a second branch: not counted
    assert still.loc[("vgg", "atanh")].tolist() == [2, 2, 1]  # b 1 and 1.004 within 0.01 of 1; d 0.02 is not


def slopes_activation():
    from mixact_lib.activations import make_activation
    return make_activation("arelu")


def test_learned_shape_curves_rebuild_the_final_function_beside_the_fixed_one(tmp_path):
    from mixact_lib.report import plots
    state = {"act1": _abcd(2.0, 0.5, 0.1, -0.2), "act2": _abcd(0.5, 1.0, 0.0, 0.0)}
    folder = _run_folder(tmp_path / "run", "atanh", state=state)
    curves = plots.learned_shape_curves([folder], lo=-2, hi=2, n=5)
    layer1 = curves.query("layer == 'layer 1'")
    assert layer1.y.to_numpy() == pytest.approx(0.5 * np.tanh(2 * layer1.x.to_numpy() + 0.1) - 0.2, abs=1e-6)
    fixed = curves.query("layer == 'fixed'")
    assert fixed.layer_index.unique().tolist() == [0]
    assert fixed.y.to_numpy() == pytest.approx(np.tanh(fixed.x), abs=1e-6)
    fig = plots.plot_learned_shapes(curves, row=None)
    styles = [(line.get_linestyle(), line.get_label()) for line in fig.axes[0].get_lines()]
    assert ("--", "fixed function") in styles and ("-", "layer 1 (input side)") in styles
    two_seeds = pd.concat([curves, curves.assign(folder="other")])
    with pytest.raises(ValueError, match="one run per panel"):
        plots.plot_learned_shapes(two_seeds, row=None)


def test_plots_of_slopes_and_rates_one_panel_per_setting(tmp_path):
    from mixact_lib.report import plots
    folders = [_run_folder(tmp_path / o, history=_history([o] * 3, [0.1, 0.01, 0.001], [1.0, 1.2, 1.4]))
               for o in ("sgd", "adam", "adadelta")]
    rates = slopes.effective_rates(slopes.activation_param_trajectories(folders))
    fig = plots.plot_effective_rates(rates, col="optimizer", col_wrap=2)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert len(panels) == 3
    sgd = panels[0]
    assert sgd.get_title().endswith("lr·a²")
    assert sgd.get_lines()[1].get_ydata()[-1] == pytest.approx((1.4 ** 2 + 2.8 ** 2) / 2)  # median of a², layers a, 2a
    assert any("rescale" in t.get_text() for t in panels[2].texts)  # AdaDelta: no rate to draw
    fig = plots.plot_layer_heatmaps(rates, "a", col="optimizer")
    image = fig.axes[0].images[0]
    assert image.get_array().shape == (2, 3) and image.norm.vcenter == 1.0


def test_activation_curves_give_one_curve_per_channel_group():
    import torch
    from mixact_lib import make_activation
    from mixact_lib.report import plots
    act = make_activation("kat_rational", groups=4)
    with torch.no_grad():
        act.denominator.mul_(torch.arange(1.0, 5.0)[:, None])  # four different functions (the numerator is shared)
    curves = plots.activation_curves({"layer 1": act, "plain": make_activation("relu")}, lo=-2, hi=2, n=7)
    assert sorted(curves.query("layer == 'layer 1'").group.unique()) == [0, 1, 2, 3]
    assert curves.query("layer == 'plain'").group.unique().tolist() == [0]
    x = torch.linspace(-2, 2, 7)
    for g in range(4):
        channels = torch.zeros(7, 4)
        channels[:, g] = x
        expected = act(channels)[:, g].detach().numpy()
        got = curves.query("layer == 'layer 1' and group == @g").y.to_numpy()
        assert got == pytest.approx(expected, abs=1e-6)
    assert not np.allclose(curves.query("group == 0 and layer == 'layer 1'").y,
                           curves.query("group == 3 and layer == 'layer 1'").y)


# --- paper B Fig. 4 as drawn: traced weights (issue 32) --------------------------------------------

def test_weight_trace_increments_read_back_every_traced_weight_and_draw_as_fig4(tmp_path):
    from torch import nn

    from mixact_lib.activations import make_activation
    from mixact_lib.report.plots import plot_weight_trace

    data = synthetic_dataset(num_train=128, num_test=32, num_classes=10, shape=(1, 8, 8), seed=0)
    folders = []
    for seed, activation in [(0, "relu"), (0, "arelu"), (1, "arelu")]:
        torch.manual_seed(seed)
        layers = [nn.Flatten(), nn.Linear(64, 16)]
        for _ in range(8):  # nine weight layers, so layers 1, 5 and 9 all exist
            layers += [make_activation(activation), nn.Linear(16, 16)]
        net = nn.Sequential(*layers[:-1], nn.Linear(16, 10))
        folder = _run_folder(tmp_path / f"{activation}{seed}", activation=activation, seed=seed)
        train(net, data, [Phase(2, "sgd", 1e-1)], batch_size=32, seed=seed, out=folder, progress=False)
        folders.append(folder)
    trace = slopes.weight_trace_increments(folders)
    assert len(trace) == 3 * 2 * 3 * 4  # runs × epochs × layers × weights
    assert sorted(trace.layer_index.unique()) == [1, 5, 9] and sorted(trace.weight_rank.unique()) == [1, 2, 3, 4]
    history = json.loads((folders[1] / "history.json").read_text())
    row = trace[(trace.folder == str(folders[1])) & (trace.epoch == 2) & (trace.layer_index == 5)
                & (trace.weight_rank == 3)].iloc[0]
    assert row.increment == history[1]["weight_trace"][row.layer][str(row.weight)]
    assert (trace.increment < 0).any() and (trace.increment > 0).any()  # signed
    fig = plot_weight_trace(trace)
    assert len(fig.axes) == 4 * 3  # rows: the four weights; columns: layers 1, 5, 9
    # control: a run from before weight_trace is refused with the way out, not drawn as zeros
    old = _run_folder(tmp_path / "old", history=[{k: v for k, v in history[0].items() if k != "weight_trace"}])
    with pytest.raises(ValueError, match="predates it"):
        slopes.weight_trace_increments([old])


def test_branch_gaps_measure_how_far_arelu_left_the_linear_tie():
    rows = [{"folder": f"r{run}", "model": model, "seed": run, "epoch": epoch, "layer_index": 1,
             "a": a, "b": b, "c": 0.0, "d": 0.0}
            for run, model, a, b in [(0, "net", 1.002, 1.0), (1, "net", 1.3, 0.9), (2, "relu_start", 1.0, 0.0)]
            for epoch in (1, 2)]
    rows[0]["a"] = 5.0  # an earlier epoch: only the last one counts
    gaps = slopes.branch_gaps(pd.DataFrame(rows)).set_index("model")
    assert gaps.loc["net", "sites"] == 2 and gaps.loc["net", "max_slope_gap"] == pytest.approx(0.4)
    assert gaps.loc["net", "share_near_linear"] == 0.5  # 1.002 vs 1.0 is within 0.01; 1.3 vs 0.9 is not
    # control: AReLU from the ReLU start (a = 1, b = 0) is far from linear
    assert gaps.loc["relu_start", "share_near_linear"] == 0 and gaps.loc["relu_start", "median_slope_gap"] == 1.0
