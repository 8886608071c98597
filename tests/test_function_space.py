"""Paper B's slope as a reparameterisation: the derived rates match exactly, the paper's and "a cancels" do not."""
from __future__ import annotations

import pytest
import torch

from mixact_lib.studies import function_space as fs


@pytest.fixture(scope="module")
def batches():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(192, 20, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (192,), generator=g)
    return [(x[i:i + 48], y[i:i + 48]) for i in range(0, 192, 48)]


SIZES = [20, 16, 16, 5]  # two hidden layers, each with its own adaptive activation
FUNCTIONS = {"sgd": "relu", "momentum": "tanh", "sgd_wd": "sigmoid", "adagrad": "relu", "rmsprop": "tanh",
             "adam": "sigmoid", "adamw": "relu", "adadelta": "tanh"}  # each optimiser with one of ARelu/ATanh/ASigmoid


@pytest.mark.parametrize("optimizer", fs.OPTIMIZERS)
@pytest.mark.parametrize("a", [0.5, 2.0])
def test_derived_settings_make_the_plain_twin_follow_exactly(optimizer, a, batches):
    out = fs.compare_function_space(FUNCTIONS[optimizer], a, optimizer, "derived", batches, steps=12, sizes=SIZES)
    assert out["max_abs_logit_diff"] / out["logit_scale"] <= fs.EQUAL[optimizer], out


@pytest.mark.parametrize("optimizer", fs.OPTIMIZERS)
def test_the_papers_rate_and_a_cancels_are_wrong(optimizer, batches):
    """The negative controls: eq. 23's η·a for the SGD family, the unchanged settings for the adaptive ones."""
    rule = "paper" if optimizer in ("sgd", "momentum", "sgd_wd") else "unchanged"
    out = fs.compare_function_space(FUNCTIONS[optimizer], 2.0, optimizer, rule, batches, steps=12, sizes=SIZES)
    assert out["max_abs_logit_diff"] / out["logit_scale"] >= fs.DIFFERS, out


@pytest.mark.parametrize("optimizer", ["sgd_wd", "adamw"])
def test_keeping_the_weight_decay_breaks_the_match(optimizer, batches):
    out = fs.compare_function_space("tanh", 2.0, optimizer, "decay_kept", batches, steps=12, sizes=SIZES)
    assert out["max_abs_logit_diff"] / out["logit_scale"] >= fs.DIFFERS, out


def test_sgd_rate_is_eta_a_squared():
    hyper = fs.Hyper(lr=0.1, momentum=0.9, weight_decay=0.2)
    assert fs.derived_settings("momentum", hyper, 3.0) == pytest.approx(dict(lr=0.9, momentum=0.9, weight_decay=0.2 / 9))
    assert fs.derived_settings("sgd", hyper, 3.0, "paper")["lr"] == pytest.approx(0.3)
    adam = fs.derived_settings("adam", fs.Hyper(lr=1e-3, eps=1e-8), 4.0)
    assert adam["lr"] == pytest.approx(4e-3) and adam["eps"] == pytest.approx(2.5e-9)
    assert fs.derived_settings("adamw", fs.Hyper(lr=1e-3, eps=1e-8, weight_decay=0.1), 2.0)["weight_decay"] == 0.05
    delta = fs.derived_settings("adadelta", fs.Hyper(lr=1.0, eps=1e-6), 2.0)
    assert delta["eps_num"] == pytest.approx(4e-6) and delta["eps_den"] == pytest.approx(2.5e-7) and delta["lr"] == 1.0


@pytest.mark.parametrize("bad, match", [(dict(optimizer="lion"), "unknown optimizer"),
                                        (dict(rule="eta"), "unknown rate rule"), (dict(a=0.0), "must be > 0")])
def test_derived_settings_refuse_bad_input(bad, match):
    kwargs = dict(optimizer="sgd", hyper=fs.Hyper(lr=0.1), a=2.0, rule="derived") | bad
    with pytest.raises(ValueError, match=match):
        fs.derived_settings(**kwargs)


def test_adadelta_with_equal_eps_is_torchs_adadelta(batches):
    torch.manual_seed(0)
    ours = torch.nn.Linear(20, 5).double()
    theirs = torch.nn.Linear(20, 5).double()
    theirs.load_state_dict(ours.state_dict())
    opt_ours = fs.AdaDelta2(ours.parameters(), lr=1.0, rho=0.9, eps_num=1e-6, eps_den=1e-6)
    opt_theirs = torch.optim.Adadelta(theirs.parameters(), lr=1.0, rho=0.9, eps=1e-6)
    for x, y in batches * 3:
        for net, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    assert torch.allclose(ours.weight, theirs.weight, rtol=0, atol=1e-14)


def test_learned_slope_follows_the_preconditioned_flow_up_to_eta_squared(batches):
    errors = fs.learned_slope_errors("tanh", 2.0, [0.1, 0.01, 0.001], batches, steps=5, sizes=SIZES)
    ratio = errors.first_step_error_over_lr2
    assert ratio.min() > 0 and ratio.max() / ratio.min() < 1 + 1e-6  # the one-step error is exactly ∝ η²
    assert (errors.residual_after_closed_form <= 1e-12).all()  # and it is the closed-form η²·a·(wᵀg′)·g′
    assert errors.max_local_error.is_monotonic_decreasing


def test_batchnorm_after_the_layer_leaves_arelu_invariant_jointly_in_a_and_b(batches):
    table = fs.batchnorm_slope_gradients(batches, sizes=SIZES, arelu_b=(0.0, 0.3))
    relu = table[table.f == "relu"].set_index("b")
    scale = relu["max |dL/dW| (scale)"].max()
    joint = "a·dL/da + b·dL/db, BN eps=1e-12"
    # the condition that holds: Euler's identity of the joint homogeneity, at b = 0 and at b = 0.3, up to BN's
    # ε = 1e-12 (a relative dependence of about ε/var), five orders below the control's dL/da
    assert (relu[joint].abs() < 1e-7 * scale).all()
    assert (relu[joint].abs() < 1e-5 * abs(relu.loc[0.3, "dL/da, BN eps=1e-12"])).all()
    # at b = 0 the slope alone does not matter; at b = 0.3 it does (the control: dL/da = 0 is not the rule)
    assert abs(relu.loc[0.0, "dL/da, BN eps=1e-12"]) < 1e-9 * scale
    assert abs(relu.loc[0.3, "dL/da, BN eps=1e-12"]) > 1e-5
    # even at b = 0, b itself has a gradient: a trained AReLU leaves that case at once
    assert abs(relu.loc[0.0, "dL/db, BN eps=1e-12"]) > 1e-4
    saturating = table[table.f != "relu"].set_index("f")  # a changes the shape: nothing vanishes
    assert (saturating["dL/da, BN eps=1e-12"].abs() > 1e-4).all() and (saturating[joint].abs() > 1e-4).all()


def test_batchnorm_before_the_activation_absorbs_the_slope(batches):
    out = fs.compare_function_space("tanh", 2.0, "sgd", "derived", batches, steps=12, sizes=SIZES, batchnorm=True)
    assert out["max_abs_logit_diff"] / out["logit_scale"] <= 1e-9, out
