"""Fast (fused) activations against the reference ones (issue: fast learnable activations).

The reference classes are the ground truth: same inputs, same parameters, and
the fast path must give the same output, input gradient and every parameter
gradient, at random parameters and at extreme inputs, keep at most one
input-sized tensor for backward, and fall back where it cannot run.
"""
from __future__ import annotations

import os
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixact_lib.activations import AdAct, Mix, has_fast, make_activation, use_reference
from mixact_lib.activations import fast_core
from mixact_lib.activations.fast_core import RandomSlopes
from mixact_lib.activations.fast_mix import FUSED_MEMBERS, FastAdAct, FastMix, mixture_basis

C = 6  # channels of the test inputs
ALL_MEMBERS = ["relu", "lrelu", "prelu", "rrelu", "elu", "silu", "mish", "sigmoid", "tanh", "sin"]
ALL_KWARGS = {"elu": {"alpha": 0.7}, "lrelu": {"negative_slope": 0.2}, "prelu": {"num_parameters": C}}

# (id, registry name, kwargs); every fast activation, per-channel variants, every fused member
CASES = [
    ("arelu", "arelu", {}),
    ("asigmoid", "asigmoid", {}),
    ("atanh", "atanh", {}),
    ("pelu", "pelu", {}),
    ("pelu-clip", "pelu", {"positive": "clip"}),  # the authors' reset of a, b (issue 29)
    ("frelu", "frelu", {}),
    ("frelu-authors-start", "frelu", {"bias_init": -1.0}),
    ("frelu-per-channel", "frelu", {"num_parameters": C}),
    ("swish_beta", "swish_beta", {}),
    ("prelu", "prelu", {}),
    ("prelu-per-channel", "prelu", {"num_parameters": C}),
    ("acon_c", "acon_c", {}),
    ("acon_c-per-channel", "acon_c", {"num_parameters": C}),
    # pau and kat_rational: tests/test_rational.py (their float32 values at |x| = 100 need a float64 truth)
    ("mix", "mix", {}),
    ("mix-abs", "mix", {"norm": "abs"}),
    ("mix-square", "mix", {"norm": "square"}),
    ("mix-none", "mix", {"norm": "none"}),
    ("mix-per-channel", "mix", {"per_channel": True, "num_channels": C}),
    ("adact", "adact", {}),
    ("adact-per-channel", "adact", {"per_channel": True, "num_channels": C}),
    ("mix-every-member", "mix", {"members": ALL_MEMBERS, "member_kwargs": ALL_KWARGS}),
]
IDS = [c[0] for c in CASES]


def pair(name, seed=0, perturb=True, **kw):
    """(fast, reference) with the same random (non-default, unless perturb=False) parameters."""
    ref = make_activation(name, impl="reference", **kw)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype) if perturb else 0)
    fast = make_activation(name, impl="fast", **kw)
    fast.load_state_dict(ref.state_dict())
    assert type(fast) is not type(ref) and isinstance(fast, type(ref))
    return fast, ref


def inputs(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(4, C, 5, 5, generator=g, dtype=dtype)
    x.view(-1)[:8] = torch.tensor([100.0, -100.0, 0.0, -0.0, 1e-8, -1e-8, 30.0, -30.0], dtype=dtype)
    return x, torch.randn(x.shape, generator=g, dtype=dtype)


def grads(module, x, grad, seed=None):
    """Output, input gradient and every parameter gradient of module at x."""
    x = x.clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    if seed is not None:
        torch.manual_seed(seed)
    y = module(x)
    y.backward(grad)
    return [y.detach(), x.grad] + [p.grad for p in module.parameters()]


def assert_same(fast_values, ref_values, rtol=1e-5, atol=1e-5):
    assert len(fast_values) == len(ref_values)
    for i, (a, b) in enumerate(zip(fast_values, ref_values)):
        if b is None:
            assert a is None or not a.any(), f"value {i}: reference has no gradient"
            continue
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, equal_nan=True, msg=lambda m: f"value {i}: {m}")


def with_slopes(ref: Mix, slopes: torch.Tensor) -> Mix:
    """Make the reference mixture's rrelu member use the given per-element slopes (torch's rule: x ≤ 0)."""
    ref.members["rrelu"].forward = lambda x: torch.where(x > 0, x, slopes * x)
    return ref


# ------------------------------------------------------------- fast == reference


@pytest.mark.parametrize("name,kw", [c[1:] for c in CASES], ids=IDS)
def test_outputs_and_every_gradient_match_the_reference(name, kw):
    fast, ref = pair(name, **kw)
    fast.eval(), ref.eval()
    x, g = inputs()
    assert_same(grads(fast, x, g), grads(ref, x, g))


@pytest.mark.parametrize("name,kw", [c[1:] for c in CASES], ids=IDS)
def test_default_init_matches_at_the_kinks(name, kw):
    # default parameters put kinks exactly at x = 0 (AReLU's a = 1, b = 0, c = d = 0 is a tie there,
    # where torch.maximum splits the gradient half/half), so the inputs' exact zeros test the conventions
    fast, ref = pair(name, perturb=False, **kw)
    fast.eval(), ref.eval()
    x, g = inputs()
    assert_same(grads(fast, x, g), grads(ref, x, g))


@pytest.mark.parametrize("name,kw", [c[1:] for c in CASES], ids=IDS)
def test_gradcheck_float64_on_the_fast_path(name, kw):
    fast, _ = pair(name, seed=1, **kw)
    fast = fast.double()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, C, 3, generator=g, dtype=torch.float64)
    x = (x + 0.1 * torch.sign(x)).requires_grad_(True)  # away from the kinks at 0
    names = [n for n, _ in fast.named_parameters()]
    values = [p.detach().clone().requires_grad_(True) for p in fast.parameters()]

    def f(x, *vals):
        torch.manual_seed(3)  # rrelu in training: the same slopes on every call
        return torch.func.functional_call(fast, dict(zip(names, vals)), (x,))

    assert torch.autograd.gradcheck(f, (x, *values))


def test_functional_call_still_takes_the_fused_path():
    fast, _ = pair("adact")
    calls = []
    hook = torch.autograd.graph.saved_tensors_hooks(lambda t: calls.append(t.numel()) or t, lambda t: t)
    x = torch.randn(2, C, 3, requires_grad=True)
    with hook:
        torch.func.functional_call(fast, dict(fast.named_parameters()), (x,))
    assert x.numel() in calls and sum(n >= x.numel() for n in calls) == 1


def test_nan_passes_through_as_nan():
    x = torch.tensor([[float("nan"), 1.0, -1.0, 0.0]] * 2).view(2, 4, 1).expand(2, 4, C).transpose(1, 2)
    for name, kw in [(c[1], c[2]) for c in CASES]:
        fast, ref = pair(name, **kw)
        fast.eval(), ref.eval()
        y, y_ref = fast(x), ref(x)
        assert torch.isnan(y).eq(torch.isnan(x)).all(), name
        torch.testing.assert_close(y, y_ref, equal_nan=True, rtol=1e-5, atol=1e-6)


def test_float64_matches_to_near_machine_precision():
    fast, ref = pair("adact")
    fast, ref = fast.double().eval(), ref.double().eval()
    x, g = inputs(torch.float64)
    assert_same(grads(fast, x, g), grads(ref, x, g), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_compute_in_float32(dtype):
    fast, ref = pair("adact")
    fast.eval(), ref.eval()
    x, g = inputs()
    y = fast(x.to(dtype))
    assert y.dtype == dtype
    torch.testing.assert_close(y.float(), ref(x.to(dtype).float()), rtol=1e-2, atol=1e-2)


def test_large_input_walks_in_pieces_with_the_same_result(monkeypatch):
    monkeypatch.setattr(fast_core, "CHUNK", 64)  # 600-element input: 10 pieces (scalar), 4 rows (per-channel)
    monkeypatch.setattr(fast_core, "_backend", "eager")  # pieces are the eager path's (native makes one pass)
    for name, kw in [("adact", {}), ("adact", {"per_channel": True, "num_channels": C}), ("arelu", {})]:
        fast, ref = pair(name, **kw)
        fast.eval(), ref.eval()
        x, g = inputs()
        assert_same(grads(fast, x, g), grads(ref, x, g))


def test_frozen_parameters_and_inputs_without_grad():
    fast, ref = pair("adact")
    for m in (fast, ref):
        m.eval()
        m.members["prelu"].weight.requires_grad_(False)
    x, g = inputs()
    a, b = grads(fast, x, g), grads(ref, x, g)
    assert_same(a, b)
    fast.requires_grad_(False)
    y = fast(x.clone().requires_grad_(True))
    y.backward(g)  # input gradient only
    w = fast.w.detach().requires_grad_(True)
    fast.w = nn.Parameter(w)
    fast(x).backward(g)  # parameter gradient only
    assert fast.w.grad is not None


# ------------------------------------------------------------------------ RReLU


def test_rrelu_train_mode_matches_the_reference_with_the_same_slopes():
    for kw in [{}, {"per_channel": True, "num_channels": C}]:
        fast, ref = pair("adact", **kw)
        fast.train(), ref.train()
        x, g = inputs()
        fast_values = grads(fast, x, g, seed=7)
        torch.manual_seed(7)
        slopes = RandomSlopes(1 / 8, 1 / 3).draw(x)  # what the fast forward drew
        assert_same(fast_values, grads(with_slopes(ref, slopes), x, g))


def test_rrelu_slopes_are_uniform_and_redrawn_each_step():
    x = -torch.ones(256, 1024)  # every element negative: output = −slope
    fast = make_activation("mix", members=["rrelu"])
    torch.manual_seed(0)
    r1, r2 = -fast(x), -fast(x)
    assert not torch.equal(r1, r2)
    lo, hi = 1 / 8, 1 / 3
    assert r1.min() >= lo and r1.max() <= hi
    assert r1.mean().item() == pytest.approx((lo + hi) / 2, abs=1e-3)
    assert r1.var().item() == pytest.approx((hi - lo) ** 2 / 12, rel=2e-2)
    # the same distribution as torch's own draw: compare deciles
    torch_slopes = -F.rrelu(x, lo, hi, training=True)
    q = torch.linspace(0.1, 0.9, 9)
    torch.testing.assert_close(r1.flatten().quantile(q), torch_slopes.flatten()[:100000].quantile(q), atol=3e-3, rtol=0)
    # reproducible from torch.manual_seed, independent of how the input is cut into pieces
    torch.manual_seed(0)
    assert torch.equal(-fast(x), r1)
    slopes = RandomSlopes(lo, hi, seed=5)
    whole = slopes.draw(x)
    flat = x.reshape(-1)
    parts = torch.cat([slopes.draw(flat[i:i + 70000], start=i) for i in range(0, flat.numel(), 70000)])
    assert torch.equal(parts, whole.reshape(-1))


def test_rrelu_eval_uses_the_mean_slope():
    fast, ref = pair("mix", members=["relu", "rrelu"])
    fast.eval(), ref.eval()
    x, g = inputs()
    assert_same(grads(fast, x, g), grads(ref, x, g))
    assert torch.equal(fast(x), fast(x))


# --------------------------------------------------------------- registry, api


def test_registry_picks_fast_by_default_and_reference_on_request():
    assert type(make_activation("adact")) is FastAdAct
    assert type(make_activation("mix")) is FastMix
    assert type(make_activation("adact", impl="reference")) is AdAct
    with use_reference():
        assert type(make_activation("adact")) is AdAct
        assert type(make_activation("arelu")).__name__ == "AReLU"
    assert type(make_activation("adact")) is FastAdAct
    for name in ["mix", "adact", "arelu", "asigmoid", "atanh", "pelu", "frelu", "swish_beta", "prelu", "acon_c", "pau",
                 "kat_rational"]:
        assert has_fast(name)


def test_state_dict_describe_and_weights_are_interchangeable():
    for name, kw in [(c[1], c[2]) for c in CASES]:
        fast, ref = pair(name, **kw)
        fresh_ref = make_activation(name, impl="reference", **kw)
        fresh_ref.load_state_dict(fast.state_dict())
        assert fresh_ref.state_dict().keys() == fast.state_dict().keys()
        assert fresh_ref.describe() == fast.describe() == ref.describe()
        if isinstance(fast, Mix):
            torch.testing.assert_close(fast.weights(), fresh_ref.weights())


def test_unfused_member_sets_fall_back_to_the_reference_forward():
    fast, ref = pair("mix", members=["relu", "arelu", "sin"])
    x, g = inputs()
    assert mixture_basis(fast, x) is None
    assert_same(grads(fast, x, g), grads(ref, x, g))
    assert set(FUSED_MEMBERS) == set(ALL_MEMBERS)


def test_per_channel_shape_error_is_the_reference_error():
    fast = make_activation("adact", per_channel=True, num_channels=3)
    with pytest.raises(ValueError, match="num_channels"):
        fast(torch.randn(2, 4, 5))


def test_backend_choice_is_validated():
    with pytest.raises(ValueError, match="auto, native, eager, compile"):
        fast_core.set_fast_backend("turbo")
    old = fast_core.set_fast_backend("eager")
    try:
        assert fast_core.set_fast_backend("compile") == "eager" and fast_core.fast_backend() == "compile"
    finally:
        fast_core.set_fast_backend(old)


def test_a_failing_compile_warns_once_and_runs_eager(monkeypatch):
    def broken_compile(fn, **kw):
        def run(*args):
            raise RuntimeError("no compiler here")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(fast_core, "_compiled", {})
    monkeypatch.setattr(fast_core, "_broken", set())
    old = fast_core.set_fast_backend("compile")
    try:
        fast, ref = pair("arelu")
        x, g = inputs()
        with pytest.warns(RuntimeWarning, match="no compiler here"):
            values = grads(fast, x, g)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            grads(fast, x, g)  # no second warning
    finally:
        fast_core.set_fast_backend(old)
    assert_same(values, grads(ref, x, g))


# --------------------------------------------------------- memory and autograd


def double_backward_values(modules, x, grad, v):
    """Per module: the input gradient for ``grad``, then the gradients of ⟨that, v⟩ (input and parameters)."""
    results = []
    for m in modules:
        m.zero_grad(set_to_none=True)
        xx = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(m(xx), xx, grad, create_graph=True)
        (gx * v).sum().backward()
        results.append([gx.detach(), xx.grad] + [p.grad for p in m.parameters()])
    return results


def saved_input_sized(module, x):
    """Number of distinct input-sized (or larger) tensors autograd keeps for backward."""
    big = {}

    def pack(t):
        if t.numel() >= x.numel():
            big[t.untyped_storage().data_ptr()] = t
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return len(big)


@pytest.mark.parametrize("name,kw", [c[1:] for c in CASES], ids=IDS)
def test_fast_path_saves_at_most_one_input_sized_tensor(name, kw):
    fast, ref = pair(name, **kw)
    x = torch.randn(4, C, 5, 5, requires_grad=True)
    for mode in (True, False):  # training (rrelu draws slopes) and eval
        fast.train(mode)
        assert saved_input_sized(fast, x) <= 1
    if name in ("mix", "adact"):
        assert saved_input_sized(ref, x) >= 3  # the count can be false: the reference keeps several


def test_double_backward_matches_the_reference():
    for name, kw in [("adact", {}), ("mix", {}), ("arelu", {}), ("pelu", {}), ("mix-every", {})]:
        if name == "mix-every":
            name, kw = "mix", {"members": ALL_MEMBERS, "member_kwargs": ALL_KWARGS}
        fast, ref = pair(name, **kw)
        fast.eval(), ref.eval()
        x, g = inputs()
        x = x + 0.01  # no exact zeros: second derivatives at kinks are conventions
        assert_same(*double_backward_values((fast, ref), x, g, torch.randn_like(x)))


def test_torch_compile_aot_eager_traces_the_reference_forward():
    fast, ref = pair("adact")
    fast.eval(), ref.eval()
    compiled = torch.compile(fast, backend="aot_eager")
    x, g = inputs()
    y = compiled(x.clone().requires_grad_(True))
    torch.testing.assert_close(y, ref(x), rtol=1e-5, atol=1e-5)
    y.backward(g)
    assert all(p.grad is not None for p in fast.parameters())


@pytest.mark.skipif(os.environ.get("MIXACT_TEST_COMPILE") != "1",
                    reason="compiles with inductor (a minute or more); set MIXACT_TEST_COMPILE=1")
def test_compile_backend_matches_the_reference():
    old = fast_core.set_fast_backend("compile")
    try:
        for name, kw in [("adact", {}), ("mix", {}), ("arelu", {}),
                         ("adact", {"per_channel": True, "num_channels": C})]:
            fast, ref = pair(name, **kw)
            x, g = inputs()
            fast.eval(), ref.eval()
            assert_same(grads(fast, x, g), grads(ref, x, g))
            if name == "adact":
                fast.train(), ref.train()
                fast_values = grads(fast, x, g, seed=7)
                torch.manual_seed(7)
                slopes = RandomSlopes(1 / 8, 1 / 3).draw(x)
                assert_same(fast_values, grads(with_slopes(ref, slopes), x, g))
        assert not fast_core._broken, "a kernel fell back to eager"
    finally:
        fast_core.set_fast_backend(old)
