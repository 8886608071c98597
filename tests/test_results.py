"""Tables built from results folders: paired comparisons and the mean ± std formatting."""
import math

import pandas as pd
import pytest

import mixact_lib as mx


def _table():
    rows = []
    for model, shift in (("resnet", 0.0), ("vgg", 0.1)):
        for seed, (relu, arelu) in enumerate([(0.80, 0.82), (0.81, 0.80), (0.79, 0.83)]):
            rows += [{"model": model, "activation": "relu", "seed": seed, "final_test_acc": relu + shift,
                      "convergence_area": 3.0 - relu},
                     {"model": model, "activation": "arelu", "seed": seed, "final_test_acc": arelu + shift,
                      "convergence_area": 3.0 - arelu}]
    rows.append({"model": "resnet", "activation": "arelu", "seed": 9, "final_test_acc": 0.1,
                 "convergence_area": 9.0})  # no relu partner: must be left out, not paired
    return pd.DataFrame(rows)


def test_paired_differences_pair_by_seed_and_count_wins():
    d = mx.paired_differences(_table(), [("relu", "arelu")])
    assert d.model.tolist() == ["resnet", "vgg"]
    row = d.iloc[0]
    assert row.n_seeds == 3 and row.wins == 2
    assert row.diff_mean == pytest.approx((0.02 - 0.01 + 0.04) / 3)
    assert row.diff_std == pytest.approx(pd.Series([0.02, -0.01, 0.04]).std())


def test_paired_differences_lower_is_better():
    d = mx.paired_differences(_table(), [("relu", "arelu")], metric="convergence_area", higher_is_better=False)
    assert d.wins.tolist() == [2, 2]


def test_paired_differences_skip_missing_pairs_and_refuse_ambiguous_pairs():
    vgg = _table().query("model == 'vgg'")
    d = mx.paired_differences(vgg, [("relu", "swish"), ("relu", "arelu")], by=[])
    assert d.challenger.tolist() == ["arelu"] and d.n_seeds.iloc[0] == 3
    with pytest.raises(ValueError, match="several final_test_acc values per seed"):
        mx.paired_differences(_table(), [("relu", "arelu")], by=[])  # two models share each seed


def test_weight_trajectories_tidy_per_epoch_site_and_member(tmp_path):
    import json
    history = [{"epoch": e, "phase": ph, "trains": tr,
                "activations": {"features.act1": {"weights": {"relu": 0.5, "tanh": 0.5 - 0.1 * e, "sin": 0.1 * e},
                                                  "raw": {"relu": 0.0, "tanh": 0.0, "sin": 0.0}},
                                "classifier.act2": {"weights": {"relu": 1.0, "tanh": 0.0, "sin": 0.0}}}}
               for e, ph, tr in ((1, 0, "net"), (2, 1, "act"))]
    (tmp_path / "history.json").write_text(json.dumps(history))
    t = mx.weight_trajectories([tmp_path])
    assert len(t) == 2 * 2 * 3
    row = t.query("epoch == 2 and layer == 'layer 1' and member == 'sin'")
    assert row.p.item() == pytest.approx(0.2) and row.trains.item() == "act"
    assert set(t.query("layer == 'layer 2'").member) == {"relu", "tanh", "sin"}
    with pytest.raises(ValueError, match="no mixture weights"):
        mx.weight_trajectories([tmp_path], which="alpha")


def test_plot_weight_trajectories_one_panel_per_layer_and_row_with_the_mixture_cycle_shaded():
    import matplotlib
    matplotlib.use("Agg")
    from mixact_lib.report import plots
    rows = [{"epoch": e, "trains": "act" if e in (3, 4) else "net", "layer": f"layer {k}", "member": m,
             "p": 1 / 3, "norm": norm}
            for e in range(1, 7) for k in (1, 2, 3) for m in ("relu", "tanh", "sin") for norm in ("softmax", "abs")]
    fig = plots.plot_weight_trajectories(pd.DataFrame(rows), row="norm")
    assert len(fig.axes) == 6
    span = [p for p in fig.axes[0].patches if p.get_facecolor()[:3] != (1.0, 1.0, 1.0)]
    assert span and span[0].get_x() == 2  # shaded from the end of epoch 2 to the end of epoch 4


def test_phase_accuracy_gives_end_and_best_test_accuracy_of_each_phase(tmp_path):
    import json
    accs = [0.80, 0.90, 0.85, 0.86, 0.88, 0.87]  # phase 1 peaks inside, phase 3 ends below its best
    history = [{"epoch": e, "phase": (e + 1) // 2, "trains": "act" if e in (3, 4) else "net", "test_acc": a}
               for e, a in enumerate(accs, 1)]
    (tmp_path / "history.json").write_text(json.dumps(history))
    t = mx.phase_accuracy([tmp_path])
    assert t.phase.tolist() == [1, 2, 3] and t.trains.tolist() == ["net", "act", "net"]
    assert t.end_test_acc.tolist() == [0.90, 0.86, 0.87] and t.best_test_acc.tolist() == [0.90, 0.86, 0.88]
    assert t.epochs.tolist() == ["1–2", "3–4", "5–6"]
    (tmp_path / "history.json").write_text(json.dumps([{"epoch": 1, "test_acc": 0.5}]))
    with pytest.raises(ValueError, match="no 'phase' field"):
        mx.phase_accuracy([tmp_path])


def test_paired_differences_give_a_paired_t_interval():
    from scipy import stats
    d = mx.paired_differences(_table(), [("relu", "arelu")]).iloc[0]
    diffs = pd.Series([0.02, -0.01, 0.04])
    half = stats.t.ppf(0.975, 2) * diffs.std() / 3 ** 0.5
    assert (d.ci_low, d.ci_high) == pytest.approx((diffs.mean() - half, diffs.mean() + half))
    assert d.ci_low < 0 < d.ci_high and d.p_value > 0.05  # 2 of 3 seeds better, but inconclusive
    steady = _table().assign(final_test_acc=lambda t: (t.activation == "relu") * 0.8 +
                             (t.activation == "arelu") * (0.85 + 0.001 * t.seed))
    s = mx.paired_differences(steady, [("relu", "arelu")]).iloc[0]
    assert s.ci_low > 0 and s.p_value < 0.05
    one = mx.paired_differences(_table().query("seed == 0"), [("relu", "arelu")]).iloc[0]
    assert one.n_seeds == 1 and math.isnan(one.ci_low) and math.isnan(one.p_value)
