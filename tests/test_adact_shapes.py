"""AdAct's negative slopes: hand-built mixtures with known answers, and one committed paper C run."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mixact_lib import make_activation
from mixact_lib.studies import adact_shapes
from mixact_lib.activations.mixture import ADACT_MEMBERS

STUDY = Path(__file__).resolve().parents[1] / "results" / "paper_c" / "fmnist"


def _adact_on(weights: dict[str, float], prelu_alpha: float = 0.25, impl: str | None = None):
    """An AdAct whose softmax weights are ``weights`` (members left out get p = 0, to float32 precision)."""
    act = make_activation("adact", impl=impl)
    logits = [math.log(weights[m]) if weights.get(m, 0) > 0 else -1e4 for m in ADACT_MEMBERS]
    with torch.no_grad():
        act.w.copy_(torch.tensor(logits))
        act.members["prelu"].weight.fill_(prelu_alpha)
    return act


@pytest.mark.parametrize("impl", ["reference", None])
@pytest.mark.parametrize("member, alpha, slope", [
    ("prelu", -0.1, -0.1),
    ("relu", 0.25, 0.0),
    ("lrelu", 0.25, 0.01),
    ("rrelu", 0.25, (1 / 8 + 1 / 3) / 2),  # evaluation mode: the mean slope, not a random draw
])
def test_all_weight_on_one_piecewise_linear_member(member, alpha, slope, impl):
    act = _adact_on({member: 1.0}, prelu_alpha=alpha, impl=impl).train()  # train mode: the fit must use eval
    assert adact_shapes.linear_part_slope(act) == pytest.approx(slope, abs=1e-6)
    assert adact_shapes.effective_slope(act) == pytest.approx(slope, abs=1e-5)
    assert act.training, "effective_slope must put the module back in its own mode"


def test_linear_part_is_the_weighted_sum_of_the_members_slopes():
    act = _adact_on({"relu": 0.2, "lrelu": 0.3, "prelu": 0.4, "rrelu": 0.1}, prelu_alpha=-0.5)
    expected = 0.2 * 0 + 0.3 * 0.01 + 0.4 * -0.5 + 0.1 * (1 / 8 + 1 / 3) / 2
    assert adact_shapes.linear_part_slope(act) == pytest.approx(expected, abs=1e-6)
    assert adact_shapes.effective_slope(act) == pytest.approx(expected, abs=1e-5)


def test_elu_moves_the_effective_slope_but_not_the_linear_part():
    # least-squares slope of e^x − 1 on uniform [−3, 0]: cov(x, e^x)/var(x) = (1/2 + 5/2·e^{−3})/(9/4), worked by hand
    act = _adact_on({"elu": 1.0})
    assert adact_shapes.linear_part_slope(act) == pytest.approx(0.0, abs=1e-6)
    assert adact_shapes.effective_slope(act, n=3001) == pytest.approx((0.5 + 2.5 * math.exp(-3)) / 2.25, abs=1e-3)


def test_effective_slope_splits_into_linear_part_plus_smooth_members():
    # the least-squares slope is linear in f: the mixture's slope is the p-weighted sum of its members' slopes
    p = dict(zip(ADACT_MEMBERS, [0.1, 0.15, 0.05, 0.3, 0.1, 0.2, 0.1]))
    act = _adact_on(p, prelu_alpha=-0.3)
    smooth = sum(p[m] * adact_shapes.effective_slope(make_activation(m)) for m in ("elu", "silu", "mish"))
    assert adact_shapes.effective_slope(act) == pytest.approx(adact_shapes.linear_part_slope(act) + smooth, abs=1e-5)
    assert abs(smooth) > 0.01, "negative control: the smooth members must move the slope for this check to mean much"


def test_per_channel_and_non_mixtures_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="per_channel=False"):
        adact_shapes.linear_part_slope(make_activation("adact", per_channel=True, num_channels=3))
    with pytest.raises(ValueError, match="not a mixture"):
        adact_shapes.linear_part_slope(make_activation("prelu"))


def test_slope_differences_pair_by_seed_within_a_layer():
    import pandas as pd

    table = pd.DataFrame({"seed": [0, 1, 2, 0, 1, 2], "layer": ["layer 1"] * 3 + ["layer 3"] * 3,
                          "effective_slope": [-0.1, -0.2, -0.3, -0.1, -0.1, -0.1],
                          "linear_part_slope": [-0.1, -0.2, -0.3, -0.1, -0.1, -0.1],
                          "optimized_member": ["prelu"] * 3 + ["mish"] * 3,
                          "optimized_prelu_slope": [-0.05, -0.14, -0.27] + [np.nan] * 3})
    diffs = adact_shapes.slope_differences(table)
    assert list(diffs.layer) == ["layer 1", "layer 1"]  # layer 3 has no PReLU to pair with
    assert diffs.n.tolist() == [3, 3] and diffs.mean_diff.tolist() == pytest.approx([-0.14 / 3] * 2)


@pytest.mark.skipif(not (STUDY / "adact" / "seed0" / "summary.json").exists(), reason="committed runs not present")
def test_committed_seed0_layer1_against_its_summary():
    slopes = adact_shapes.negative_slopes(STUDY)
    assert set(slopes.layer) == {"layer 1", "layer 2", "layer 3", "layer 4"}
    row = slopes[(slopes.seed == 0) & (slopes.layer == "layer 1")].iloc[0]
    summary = json.loads((STUDY / "adact" / "seed0" / "summary.json").read_text())
    layer1 = summary["activation_params"]["features.act1"]  # p and α as the run itself reported them
    p = layer1["weights"]
    by_hand = p["lrelu"] * 0.01 + p["prelu"] * layer1["prelu.slope"] + p["rrelu"] * (1 / 8 + 1 / 3) / 2
    assert row.linear_part_slope == pytest.approx(by_hand, abs=1e-6)
    optimized = json.loads((STUDY / "optimized" / "seed0" / "summary.json").read_text())
    assert row.optimized_member == summary["dominant_activations"]["features.act1"] == "prelu"
    assert row.optimized_prelu_slope == pytest.approx(optimized["activation_params"]["features.act1"]["slope"])
    assert slopes[slopes.optimized_member != "prelu"].optimized_prelu_slope.isna().all()
    assert -0.2 < row.effective_slope < 0  # f rises again below 0, as the reading says


def test_shape_figure_has_one_panel_per_layer_and_the_reference_dashed():
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    from mixact_lib.report import plots

    x = np.linspace(-4, 3, 8)
    curves = pd.DataFrame([{"layer": f"layer {k}", "seed": s, "x": v, "y": max(v, -0.1 * k * v)}
                           for k in (1, 2, 3) for s in (0, 1) for v in x])
    fig = plots.plot_shapes_per_layer(curves, reference="relu")
    axes = [ax for ax in fig.axes if ax.has_data()]
    assert [ax.get_title() for ax in axes] == ["layer 1", "layer 2", "layer 3"]
    for ax in axes:  # two seeds, then ReLU dashed and exactly max(x, 0)
        assert len(ax.lines) == 2 + 1 + 2  # + the two zero lines
        relu = next(line for line in ax.lines if line.get_linestyle() == "--")
        assert np.allclose(relu.get_ydata(), np.maximum(x, 0))
