"""Each field activation against its authors' released code (issue 29), transcribed here as formulas.

The authors' files were read at their source and their *formulas* written down below in numpy, float64,
element by element, with their own gradient formulas (not autograd): nothing is imported from mixact but
the module under test. Each comparison covers the forward, the input gradient and every parameter
gradient, on coefficients where the conventions differ, for the reference and both fast paths (native
C++ and eager). Each has a negative control that must fail the same comparison: the other convention.

    pau           ml-research/pau            pau/cuda/setup.py (the CUDA kernel), pau/cuda/python_imp/Pade.py;
                  ml-research/rational_activations  rational/_cuda/versions/A.cu and B.cu
    kat_rational  Adamdad/rational_kat_cu    kat_rational/kat_1dgroup.py, src/rational_kernel_group.cu
    pelu          ltrottier/pelu.resnet.torch  models/PELU/PELU.lua
    frelu         kyuusaku/frelu.torch       models/frelu/PosSReLU.lua, models/frelu/MyAdd.lua
    acon_c        nmaac/acon                 acon.py (AconC)
    swish_beta    (no authors' code; Ramachandran et al. 2017 eq.: x·σ(βx), with its own derivatives)

sign(t) at t = 0: the CUDA kernels take copysign(1, t), +1 for t = +0.0; so does mixact (``abs_plus``).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mixact_lib.activations import fast_core, fast_native, make_activation

B_ODD = (-0.7, 0.4, -0.3, 0.2)  # the denominator: odd coefficients away from 0, so A and B part
PATHS = [("reference", None), ("fast", "native"), ("fast", "eager")]
PATH_IDS = ["reference", "native", "eager"]


@pytest.fixture
def backend():
    old = fast_core.fast_backend()
    yield fast_core.set_fast_backend
    fast_core.set_fast_backend(old)


def build(name, impl, path_backend, set_backend, **kw):
    if path_backend == "native":
        assert fast_native.library() is not None, f"the native kernels did not build: {fast_native.failure()}"
    if path_backend is not None:
        set_backend(path_backend)
    return make_activation(name, impl=impl, **kw).double()


def ours(module, x, g):
    """Output, input gradient and each parameter's gradient (in named_parameters order), as numpy."""
    x = torch.as_tensor(x).clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    y = module(x)
    y.backward(torch.as_tensor(g))
    return [y.detach().numpy(), x.grad.numpy()] + [p.grad.numpy() for _, p in module.named_parameters()]


def worst(got, expected):
    """Largest absolute difference over every value, relative to max(1, |expected|)."""
    return max(float(np.max(np.abs(a - e) / np.maximum(1.0, np.abs(e)))) for a, e in zip(got, expected))


def sgn(t):
    """copysign(1, t) for t ≠ −0.0 (the kernels' sign; +1 at 0)."""
    return np.where(np.asarray(t) >= 0, 1.0, -1.0)


def grid_input(rows=7, channels=8, seed=0):
    """(rows, channels) float64 on [−4, 4] with exact zeros, and an upstream gradient."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, (rows, channels))
    x[0, :] = 0.0
    return x, rng.standard_normal((rows, channels))


# ------------------------------------------------------------------------ the rational kernels


def pau_kernel(x, g, n, d):
    """ml-research/pau's CUDA kernel (pau/cuda/setup.py), one coefficient set, as formulas.

    P = Σ_j n_j x^j, Q = 1 + Σ_{k≥1} |d_{k−1}|·|x|^k, R = P′, S = sign(x)·Σ_k k·|d_{k−1}|·|x|^{k−1},
    mpq2 = −P/Q², dF/dx = R/Q + S·mpq2, dF/dn_j = x^j/Q, dF/dd_{k−1} = mpq2·|x|^k·sign(d_{k−1}).
    Returns y, dx and the summed dn, dd.
    """
    ax = np.abs(x)
    P = sum(n[j] * x**j for j in range(len(n)))
    Q = 1 + sum(abs(d[k - 1]) * ax**k for k in range(1, len(d) + 1))
    R = sum(j * n[j] * x ** (j - 1) for j in range(1, len(n)))
    S = sgn(x) * sum(k * abs(d[k - 1]) * ax ** (k - 1) for k in range(1, len(d) + 1))
    mpq2 = -P / Q**2
    dn = np.array([np.sum(g * x**j / Q) for j in range(len(n))])
    dd = np.array([np.sum(g * mpq2 * ax**k * sgn(d[k - 1])) for k in range(1, len(d) + 1)])
    return P / Q, g * (R / Q + S * mpq2), dn, dd


def version_b_kernel(x, g, n, d):
    """rational_activations' version B (rational/_cuda/versions/B.cu): Q = 1 + |A|, A = Σ_k d_{k−1} x^k,
    S = sign(A)·A′, dF/dd_{k−1} = mpq2·sign(A)·x^k."""
    P = sum(n[j] * x**j for j in range(len(n)))
    A = sum(d[k - 1] * x**k for k in range(1, len(d) + 1))
    Q = 1 + np.abs(A)
    R = sum(j * n[j] * x ** (j - 1) for j in range(1, len(n)))
    S = sgn(A) * sum(k * d[k - 1] * x ** (k - 1) for k in range(1, len(d) + 1))
    mpq2 = -P / Q**2
    dn = np.array([np.sum(g * x**j / Q) for j in range(len(n))])
    dd = np.array([np.sum(g * mpq2 * sgn(A) * x**k) for k in range(1, len(d) + 1)])
    return P / Q, g * (R / Q + S * mpq2), dn, dd


def kat_kernel(x, g, numerator, denominator):
    """Adamdad/rational_kat_cu: kat_1dgroup.py repeats the (1, 6) numerator over the groups; the kernel
    (src/rational_kernel_group.cu) gives channel d the group d // (D / G) and computes, per group, PAU's
    version-A formulas above. The shared numerator's gradient is the sum over groups (autograd of repeat).
    x is (N, D) (KAT's (B, L, D) with L = 1)."""
    groups, per = denominator.shape[0], x.shape[1] // denominator.shape[0]
    y, dx = np.empty_like(x), np.empty_like(x)
    dn, dd = np.zeros(numerator.shape[1]), np.zeros_like(denominator)
    for grp in range(groups):
        cols = slice(grp * per, (grp + 1) * per)
        y[:, cols], dx[:, cols], dn_g, dd[grp] = pau_kernel(x[:, cols], g[:, cols], numerator[0], denominator[grp])
        dn += dn_g
    return y, dx, dn[None, :], dd


def set_coefficients(module, numerator, denominator):
    with torch.no_grad():
        module.numerator.copy_(torch.as_tensor(numerator))
        module.denominator.copy_(torch.as_tensor(denominator))


@pytest.mark.parametrize("impl,path", PATHS, ids=PATH_IDS)
def test_pau_is_the_authors_safe_pau(backend, impl, path):
    x, g = grid_input(channels=5)
    n = np.random.default_rng(1).standard_normal(6)
    d = np.array(B_ODD)
    expected = pau_kernel(x, g, n, d)
    pau = build("pau", impl, path, backend)  # default: version A
    set_coefficients(pau, n[None], d[None])
    got = ours(pau, x, g)
    assert worst(got, [expected[0], expected[1], expected[2][None], expected[3][None]]) < 1e-8
    # negative control: version B (mixact's pau before issue 29) on the same coefficients is another function
    form_b = build("pau", impl, path, backend, version="B")
    set_coefficients(form_b, n[None], d[None])
    assert np.max(np.abs(ours(form_b, x, g)[0] - expected[0])) > 1.0
    # and version B is rational_activations' B
    expected_b = version_b_kernel(x, g, n, d)
    assert worst(ours(form_b, x, g), [expected_b[0], expected_b[1], expected_b[2][None], expected_b[3][None]]) < 1e-8


@pytest.mark.parametrize("impl,path", PATHS, ids=PATH_IDS)
def test_kat_rational_is_kats_group_rational(backend, impl, path):
    rng = np.random.default_rng(2)
    x, g = grid_input(rows=5, channels=64)
    numerator = rng.standard_normal((1, 6))
    denominator = rng.standard_normal((8, 4))  # unequal across groups, with negative (odd) entries
    kat = build("kat_rational", impl, path, backend)
    assert [tuple(p.shape) for _, p in kat.named_parameters()] == [(1, 6), (8, 4)]  # 38 coefficients
    set_coefficients(kat, numerator, denominator)
    expected = kat_kernel(x, g, numerator, denominator)
    assert worst(ours(kat, x, g), list(expected)) < 1e-8
    # negative control 1: version B, on the same coefficients
    form_b = build("kat_rational", impl, path, backend, version="B")
    set_coefficients(form_b, numerator, denominator)
    assert worst(ours(form_b, x, g), list(expected)) > 1e-2
    # negative control 2: a numerator per group (mixact's kat_rational before issue 29), unequal numerators
    per_group = build("pau", impl, path, backend, groups=8)
    set_coefficients(per_group, numerator + 0.1 * rng.standard_normal((8, 6)), denominator)
    assert worst(ours(per_group, x, g)[:2], list(expected[:2])) > 1e-2


@pytest.mark.parametrize("impl,path", PATHS, ids=PATH_IDS)
def test_sign_at_zero_follows_the_cuda_kernels(backend, impl, path):
    """At x = 0 and b_k = 0 exactly |·|'s derivative is +1 (copysign(1, +0.0)), as the kernels compute it.

    At KAT's identity start (b = 0) this is what lets the denominators learn at all: with torch.abs's
    sign(0) = 0 (the negative control) their gradient would be 0 forever.
    """
    x, g = grid_input(rows=6, channels=16)
    kat = build("kat_rational", impl, path, backend, init="identity", groups=2)
    numerator, denominator = kat.numerator.detach().numpy(), kat.denominator.detach().numpy()
    assert not denominator.any()
    expected = kat_kernel(x, g, numerator, denominator)
    got = ours(kat, x, g)
    assert worst(got, list(expected)) < 1e-10 and np.abs(got[3]).min() > 1e-3
    # at x = 0 the input gradient takes dQ/dx = +|b_1|, not 0
    pau = build("pau", impl, path, backend)
    set_coefficients(pau, np.array([[0.3, 1, 0, 0, 0, 0]]), np.array([B_ODD]))
    zero = ours(pau, np.zeros((1, 1)), np.ones((1, 1)))
    assert zero[1][0, 0] == pytest.approx(pau_kernel(np.zeros(1), np.ones(1), [0.3, 1, 0, 0, 0, 0], B_ODD)[1][0])
    assert zero[1][0, 0] == pytest.approx(1 - 0.3 * 0.7)
    # negative control: torch.abs's convention gives the denominator no gradient at b = 0
    b = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    xt = torch.as_tensor(x)
    y = xt / (1 + sum(torch.abs(b[k - 1]) * xt.abs() ** k for k in range(1, 5)))
    y.backward(torch.as_tensor(g))
    assert not b.grad.any()


# ----------------------------------------------------------------- PELU, FReLU, ACON-C, swish_beta


def pelu_lua(x, g, a, b):
    """ltrottier/pelu.resnet.torch models/PELU/PELU.lua: the reset of (a, b) in updateOutput, then
    y = a·(exp(x/b) − 1) (x < 0), x·a/b (x ≥ 0); updateGradInput and accGradParameters' derivatives."""
    a = 1.99 if a >= 2 else a
    a = 0.11 if a <= 0.1 else a
    b = 0.11 if b <= 0.1 else b
    neg = x < 0
    e = np.exp(np.where(neg, x, 0) / b)
    y = np.where(neg, a * (e - 1), x * a / b)
    dx = g * np.where(neg, e * a / b, a / b)
    da = np.sum(g * np.where(neg, e - 1, x / b))
    db = np.sum(g * np.where(neg, e * x * (-a) / b**2, x * (-a) / b**2))
    return (a, b), [y, dx, np.array(da), np.array(db)]


@pytest.mark.parametrize("impl,path", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("a,b", [(0.7, 1.3), (2.5, 0.05), (0.05, 0.4)], ids=["inside", "above-a-below-b", "below-a"])
def test_pelu_clip_is_the_authors_rule(backend, impl, path, a, b):
    x, g = grid_input()
    pelu = build("pelu", impl, path, backend, positive="clip")
    with torch.no_grad():
        pelu.a.fill_(a), pelu.b.fill_(b)
    (a_used, b_used), expected = pelu_lua(x, g, a, b)
    got = ours(pelu, x, g)
    assert worst(got, expected) < 1e-10
    assert (pelu.a.item(), pelu.b.item()) == (a_used, b_used)  # the stored values were reset, as in the Lua
    if (a, b) == (0.7, 1.3):
        # negative control: softplus keeps the same function but scales the stored parameter's gradient
        soft = build("pelu", impl, path, backend, a=a, b=b)
        other = ours(soft, x, g)
        assert worst(other[:2], expected[:2]) < 1e-6 and worst(other[2:], expected[2:]) > 1e-2  # a_raw in float32
    else:
        # negative control: softplus has no bounds, so a = 2.5 or a = 0.05 stays and the function differs
        soft = build("pelu", impl, path, backend, a=a, b=b)
        assert worst(ours(soft, x, g)[:1], expected[:1]) > 1e-2


def frelu_lua(x, g, bias):
    """kyuusaku/frelu.torch models/frelu/PosSReLU.lua: nn.ReLU (gradient where x > 0), then MyAdd.lua's
    bias, one per channel (dim 1 of (N, C)) or one for all; gradBias = Σ g over its channel."""
    bias = np.broadcast_to(np.asarray(bias, dtype=float), (x.shape[1],))
    y = np.maximum(x, 0) + bias[None, :]
    per_channel = g.sum(0)
    return [y, g * (x > 0), per_channel if bias.size > 1 and per_channel.size == bias.size else None]


@pytest.mark.parametrize("impl,path", PATHS, ids=PATH_IDS)
def test_frelu_is_posssrelu_with_the_authors_start(backend, impl, path):
    x, g = grid_input(channels=4)
    authors = build("frelu", impl, path, backend, bias_init=-1.0)  # PosSReLU(1): one bias, val = −1
    expected = frelu_lua(x, g, -1.0)
    got = ours(authors, x, g)
    assert worst(got[:2], expected[:2]) < 1e-12 and got[2] == pytest.approx(g.sum())
    per_channel = build("frelu", impl, path, backend, bias_init=-1.0, num_parameters=4)
    with torch.no_grad():
        per_channel.b.copy_(torch.tensor([-1.0, 0.5, 0.0, 2.0]))
    expected = frelu_lua(x, g, [-1.0, 0.5, 0.0, 2.0])
    assert worst(ours(per_channel, x, g), expected) < 1e-12
    # negative control: mixact's default start (b = 0) is relu, not the authors' relu − 1
    assert worst(ours(build("frelu", impl, path, backend), x, g)[:1], frelu_lua(x, g, -1.0)[:1]) > 0.5


def acon_c_py(x, g, p1, p2, beta):
    """nmaac/acon acon.py, AconC.forward: (p1·x − p2·x)·σ(β(p1·x − p2·x)) + p2·x, parameters of shape
    (1, C, 1, 1) (here (C,) over dim 1 of (N, C)); its derivatives, written out (the authors rely on autograd):
    with d = p1 − p2, s = σ(β·d·x), s′ = s(1 − s):
    ∂y/∂x = d·s + β·d²·x·s′ + p2, ∂y/∂p1 = x·s + β·d·x²·s′, ∂y/∂p2 = x − x·s − β·d·x²·s′, ∂y/∂β = d²·x²·s′."""
    p1, p2, beta = (np.asarray(v, dtype=float)[None, :] for v in (p1, p2, beta))
    d = p1 - p2
    s = 1 / (1 + np.exp(-beta * d * x))
    ds = s * (1 - s)
    y = d * x * s + p2 * x
    dx = g * (d * s + beta * d**2 * x * ds + p2)
    dp1 = (g * (x * s + beta * d * x**2 * ds)).sum(0)
    dp2 = (g * (x - x * s - beta * d * x**2 * ds)).sum(0)
    dbeta = (g * d**2 * x**2 * ds).sum(0)
    return [y, dx, dp1, dp2, dbeta]


@pytest.mark.parametrize("impl,path", PATHS, ids=PATH_IDS)
def test_acon_c_is_aconc_with_its_random_per_channel_start(backend, impl, path):
    x, g = grid_input(channels=6)
    torch.manual_seed(3)
    acon = build("acon_c", impl, path, backend, num_parameters=6, init="random")
    p1, p2, beta = (getattr(acon, k).detach().numpy().copy() for k in ("p1", "p2", "beta"))
    assert len(set(p1.round(6))) == 6 and len(set(p2.round(6))) == 6 and (beta == 1).all()
    assert worst(ours(acon, x, g), acon_c_py(x, g, p1, p2, beta)) < 1e-10
    # the default start is SiLU: p1 = 1, p2 = 0, β = 1
    silu = build("acon_c", impl, path, backend, num_parameters=6)
    assert worst(ours(silu, x, g), acon_c_py(x, g, np.ones(6), np.zeros(6), np.ones(6))) < 1e-10
    # negative control: one parameter set for the layer (channel 0's) is not the authors' per-channel AconC
    shared = build("acon_c", impl, path, backend, p1=float(p1[0]), p2=float(p2[0]))
    assert worst(ours(shared, x, g)[:1], acon_c_py(x, g, p1, p2, beta)[:1]) > 1e-2


def swish_beta_formula(x, g, beta):
    """Ramachandran et al. 2017 (no released code): y = x·σ(βx); ∂y/∂x = σ + βx·σ(1 − σ), ∂y/∂β = x²·σ(1 − σ)."""
    s = 1 / (1 + np.exp(-beta * x))
    return [x * s, g * (s + beta * x * s * (1 - s)), np.array(np.sum(g * x**2 * s * (1 - s)))]


@pytest.mark.parametrize("impl,path", PATHS, ids=PATH_IDS)
def test_swish_beta_is_x_sigmoid_beta_x(backend, impl, path):
    x, g = grid_input()
    swish = build("swish_beta", impl, path, backend, beta=1.7)
    beta = swish.beta.item()  # 1.7 as float32 holds it
    assert worst(ours(swish, x, g), swish_beta_formula(x, g, beta)) < 1e-10
    # negative control: SiLU (β = 1) is another function at β = 1.7
    assert worst(ours(build("swish_beta", impl, path, backend), x, g)[:1], swish_beta_formula(x, g, beta)[:1]) > 1e-2
