"""The rational activations (pau, kat_rational) and ACON-C (issue 19): formulas, fitted init, fast paths, table.

Fast against reference on the same inputs (output, input gradient, every parameter gradient), on the
native C++ kernels and on the eager fallback, in float32 and float64, 2-D to 5-D, size-1 dims and sizes
that are not a multiple of the vector width; gradcheck in float64; the backward's float32 reduction error
against float64; the registry table in README.md and book/intro.md against the generated one.
"""
from __future__ import annotations

import copy
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mixact_lib.activations import fast_core, fast_native, fit_error, fit_rational, make_activation
from mixact_lib.activations.fast_rational import FastKATRational, FastPAU, reduction_error
from mixact_lib.activations.registry import registry_markdown, registry_table
from test_fast import double_backward_values, saved_input_sized  # noqa: E402  (tests/ is on sys.path under pytest)
from test_native import _inputs as inputs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
C = 6  # channels of most test inputs
# 2-D through 5-D, size-1 dimensions, sizes that are not a multiple of any vector width (8, 16)
SHAPES = [(5, C), (1, C), (4, C, 7), (3, C, 1), (2, C, 5, 7), (1, C, 1, 1), (2, C, 3, 4, 5), (2, C, 17, 1, 3)]
CASES = [("pau", {}), ("pau", {"groups": 2}), ("pau", {"groups": C}), ("kat_rational", {"groups": 3}),
         ("pau", {"version": "B"}), ("kat_rational", {"groups": 2, "version": "B"}),
         ("acon_c", {}), ("acon_c", {"num_parameters": C})]
IDS = ["pau", "pau-groups2", "pau-per-channel", "kat-groups3", "pau-B", "kat-groups2-B", "acon_c", "acon_c-per-channel"]
# acon_c's random start (p1 − p2 < 0 in some channels) is compared in float64 in test_authors_formulas.py: in
# float32, at x = −30 its ∂/∂p2 = g·(x − x·σ(βdx) − …) cancels to 0 exactly in float64 and to ~1e-7 of |x| in
# float32, which the term-sum scale here (already cancelled: 0) cannot judge
DTYPES = [torch.float32, torch.float64]


@pytest.fixture
def backend():
    old = fast_core.fast_backend()
    yield fast_core.set_fast_backend
    fast_core.set_fast_backend(old)


@pytest.fixture(scope="module")
def lib():
    library = fast_native.library()
    assert library is not None, f"the native kernels did not build: {fast_native.failure()}"
    return library


def pair(name, kw, dtype=torch.float32, seed=0, perturb=True):
    """(fast, reference) with the same parameters, moved off the init by 0.3·N(0, 1) unless perturb=False."""
    ref = make_activation(name, impl="reference", **kw).to(dtype)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(dtype) if perturb else 0)
    fast = make_activation(name, impl="fast", **kw).to(dtype)
    fast.load_state_dict(ref.state_dict())
    assert type(fast) is not type(ref) and isinstance(fast, type(ref))
    return fast, ref




def values(module, x, grad):
    """Output, input gradient and every parameter gradient."""
    x = x.clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    y = module(x)
    y.backward(grad)
    return [y.detach(), x.grad] + [p.grad for p in module.parameters()]


def close(a_values, b_values, rtol, atol):
    assert len(a_values) == len(b_values)
    for i, (a, b) in enumerate(zip(a_values, b_values)):
        torch.testing.assert_close(a.to(b.dtype), b, rtol=rtol, atol=atol, equal_nan=True,
                                   msg=lambda m: f"value {i}: {m}")


def matches_reference(fast, ref, x, g):
    """Fast against the reference: float64 to 1e-10; float32 about as accurate as the reference's float32.

    With inputs up to |x| = 100 a degree-5 rational's float32 terms reach 1e10 and ACON-C's
    ∂/∂p2 = Σg·x − Σg·h cancels, so any float32 evaluation is off by more than 1e-5 somewhere. The truth
    is the reference in float64 on the same numbers; each fast value must be within 2e-5 relative of it
    (≈ 170 float32 ulp), or no further from it than 4× the float32 reference's own error (the two round
    differently, and at |x| = 100 the input gradient's u·P′ and v·S′ cancel to several digits). A
    parameter gradient's error is relative to Σ|g·∂y/∂p|, the scale rounding in any summation order is
    measured against (its terms can cancel).
    """
    if x.dtype == torch.float64:
        close(values(fast, x, g), values(ref, x, g), 1e-10, 1e-10)
        return
    ref64 = copy.deepcopy(ref).double()
    exact = values(ref64, x.double(), g.double())
    sums = term_sums(ref64, x.double(), g.double())
    dx_scale = rational_dx_terms(ref64, x.double(), g.double()) if hasattr(ref, "degrees") else 0
    for i, (a, r, e) in enumerate(zip(values(fast, x, g), values(ref, x, g), exact)):
        assert a.dtype == r.dtype == torch.float32
        scale = (e.abs() + (dx_scale if i == 1 else 0) if i < 2 else sums[i - 2]) + 1e-6 * e.abs().max()
        fast_err = ((a.double() - e).abs() / scale).max().item()
        ref_err = ((r.double() - e).abs() / scale).max().item()
        assert fast_err <= max(2e-5, 4 * ref_err), f"value {i}: fast error {fast_err:.2e}, reference {ref_err:.2e}"


def rational_dx_terms(module, x, g):
    """|g|·(|P′|/Q + |P·Q′|/Q²): the two terms a rational's input gradient g·(P′/Q − P·Q′/Q²) is the sum of.

    Near a stationary point of y they cancel, and any float32 evaluation is then off by ~1e-7 of them, not
    of their (small) sum; both orders of evaluation (reference autograd, fused Horner) are held to that.
    """
    x = x.detach().clone().requires_grad_(True)
    coef = module.coefficients(x).detach()
    m = module.degrees[0]
    rows = [c.view(1, -1, *([1] * (x.dim() - 2))) if coef.shape[1] > 1 else c.reshape(()) for c in coef]
    p = sum(rows[j] * x**j for j in range(m + 1))
    z = x.abs() if module.version == "A" else x
    q = sum(rows[m + k] * z**k for k in range(1, len(rows) - m))
    q = 1 + (q if module.version == "A" else q.abs())
    dp, dq = (torch.autograd.grad(t.sum(), x, retain_graph=True)[0] for t in (p, q))
    return (g.abs() * (dp.abs() / q + (p * dq).abs() / q**2)).detach()


def term_sums(module, x, g):
    """Σ_i |g_i·∂y_i/∂p| for every parameter p (forward-mode Jacobian of the float64 module)."""
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach() for p in module.parameters()]
    jac = torch.func.jacfwd(lambda *v: torch.func.functional_call(module, dict(zip(names, v)), (x,)),
                            argnums=tuple(range(len(params))))(*params)
    dims = tuple(range(x.dim()))
    return [(g.reshape(g.shape + (1,) * p.dim()) * j).abs().sum(dims) for j, p in zip(jac, params)]


# ------------------------------------------------------------- registry, formulas


def test_names_aliases_and_unknown_names():
    assert type(make_activation("pau")) is FastPAU
    assert type(make_activation("kat_rational")) is FastKATRational
    for alias, target in [("rational", "pau"), ("Pade", "pau"), ("group_rational", "kat_rational"),
                          ("kat", "kat_rational"), ("ACON-C", "acon_c"), ("aconc", "acon_c")]:
        assert make_activation(alias).name == target
    with pytest.raises(ValueError, match="Did you mean 'rational'"):
        make_activation("rationl")
    with pytest.raises(ValueError, match="accepts: degrees, groups, init, negative_slope"):
        make_activation("pau", order=5)
    with pytest.raises(ValueError, match="choose one of leaky_relu, gelu, swish, identity"):
        make_activation("pau", init="tanh")
    with pytest.raises(ValueError, match="groups >= 1"):
        make_activation("kat_rational", groups=0)


def test_group_count_must_divide_the_channels():
    act = make_activation("kat_rational")  # 8 groups
    assert act(torch.randn(2, 16, 3)).shape == (2, 16, 3)
    with pytest.raises(ValueError, match=r"groups=8 .* \(2, 6, 3\) \(6 channels\)\. Use groups dividing 6: 1, 2, 3, 6"):
        act(torch.randn(2, 6, 3))
    with pytest.raises(ValueError, match="no channel dim"):
        act(torch.randn(16))
    assert make_activation("pau")(torch.randn(7)).shape == (7,)  # one set per layer: any shape


def test_parameter_counts_and_layouts():
    assert [p.shape for p in make_activation("pau").parameters()] == [(1, 6), (1, 4)]
    assert [p.shape for p in make_activation("kat_rational").parameters()] == [(1, 6), (8, 4)]  # shared numerator
    assert [p.shape for p in make_activation("pau", degrees=(3, 2), groups=4).parameters()] == [(4, 4), (4, 2)]
    assert sum(p.numel() for p in make_activation("acon_c", num_parameters=5).parameters()) == 15


@pytest.mark.parametrize("version", ["A", "B"])
def test_pau_formula_and_groups_at_random_coefficients(version):
    act = make_activation("pau", impl="reference", groups=2, version=version).double()
    with torch.no_grad():
        for p in act.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    a, b = act.numerator.detach().numpy(), act.denominator.detach().numpy()
    xs = x.numpy()
    expected = np.empty_like(xs)
    for ch in range(4):
        g = ch // 2  # channels 0, 1 → group 0; 2, 3 → group 1
        p = sum(a[g, j] * xs[:, ch] ** j for j in range(6))
        if version == "A":
            q = 1 + sum(abs(b[g, k - 1]) * np.abs(xs[:, ch]) ** k for k in range(1, 5))
        else:
            q = 1 + np.abs(sum(b[g, k - 1] * xs[:, ch] ** k for k in range(1, 5)))
        expected[:, ch] = p / q
    np.testing.assert_allclose(act(x).detach().numpy(), expected, rtol=1e-12)


def test_acon_c_formula_and_its_silu_start():
    z = torch.linspace(-6, 6, 241, dtype=torch.float64)
    torch.testing.assert_close(make_activation("acon_c", impl="reference").double()(z), F.silu(z))
    act = make_activation("acon_c", impl="reference", p1=1.5, p2=-0.2, beta=2.0).double()
    d = 1.5 + 0.2
    torch.testing.assert_close(act(z), d * z * torch.sigmoid(2.0 * d * z) - 0.2 * z)
    # far from 0 it is linear with slope p1 (x → +∞) and p2 (x → −∞)
    assert act(torch.tensor([50.0], dtype=torch.float64)).item() == pytest.approx(75.0)
    assert act(torch.tensor([-50.0], dtype=torch.float64)).item() == pytest.approx(10.0)


# ------------------------------------------------------------------ the fitted init


def test_the_init_is_a_least_squares_fit_with_the_documented_error():
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    pau = make_activation("pau", impl="reference").double()
    err = (pau(x) - F.leaky_relu(x, 0.01)).abs().max().item()
    assert 0.02 < err < 0.035  # 0.030 documented; a rational cannot have the kink exactly
    assert fit_error("leaky_relu") == pytest.approx(0.0298, abs=5e-4)
    assert fit_error("leaky_relu", version="B") == pytest.approx(0.0336, abs=5e-4)
    assert fit_error("gelu") < 3e-3 and fit_error("swish") < 2e-6 and fit_error("identity") == 0
    assert fit_error("gelu", version="B") < 1e-3
    kat = make_activation("kat_rational", impl="reference").double()
    assert (kat(x.view(1, 1, -1).expand(1, 8, -1)) - F.gelu(x)).abs().max() < 3e-3
    swish = make_activation("kat_rational", impl="reference", init="swish").double()
    assert (swish(x.view(1, 1, -1).expand(1, 8, -1)) - F.silu(x)).abs().max() < 2e-6
    identity = make_activation("kat_rational", impl="reference", init="identity").double()
    assert torch.equal(identity(x.view(1, 1, -1).expand(1, 8, -1))[0, 0], x)
    # negative control: version B's GELU start, run through version A, misses GELU by far more than its fit
    a, b = fit_rational("gelu", version="B")
    crossed = make_activation("pau", impl="reference", init="gelu").double()
    with torch.no_grad():
        crossed.numerator.copy_(torch.tensor([a])), crossed.denominator.copy_(torch.tensor([b]))
    assert (crossed(x) - F.gelu(x)).abs().max() > 0.01
    # the fit depends on what it is asked for: another slope gives other coefficients, another error
    assert fit_rational("leaky_relu", (5, 4), 0.25) != fit_rational("leaky_relu", (5, 4), 0.01)
    slope = make_activation("pau", impl="reference", negative_slope=0.25).double()
    assert (slope(x) - F.leaky_relu(x, 0.25)).abs().max() < 0.03 < (pau(x) - F.leaky_relu(x, 0.25)).abs().max()
    assert fit_rational() is fit_rational()  # cached
    a, b = fit_rational("leaky_relu", (3, 2))
    assert len(a) == 4 and len(b) == 2 and fit_error("leaky_relu", (3, 2)) > fit_error("leaky_relu", (5, 4))
    assert min(fit_rational("gelu")[1]) >= 0  # version A returns |b_k|
    with pytest.raises(ValueError, match="version"):
        make_activation("pau", version="C")


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_default_init_gives_every_parameter_a_gradient(name, kw):
    act = make_activation(name, **kw)
    x = torch.randn(16, C, 9, generator=torch.Generator().manual_seed(0))
    (act(x) * torch.randn_like(x)).sum().backward()
    for pname, p in act.named_parameters():
        assert p.grad is not None and (p.grad.abs() > 0).all(), f"{name}.{pname} gets no gradient at init"


# ------------------------------------------------------------ fast == reference


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_native_matches_the_reference(lib, backend, name, kw, shape, dtype):
    backend("native")
    fast, ref = pair(name, kw, dtype)
    x, g = inputs(shape, dtype)
    matches_reference(fast, ref, x, g)


@pytest.mark.parametrize("shape", SHAPES[::3], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_eager_fallback_matches_the_reference(backend, name, kw, shape, dtype):
    backend("eager")
    fast, ref = pair(name, kw, dtype)
    x, g = inputs(shape, dtype)
    matches_reference(fast, ref, x, g)


@pytest.mark.parametrize("impl_backend", ["native", "eager"])
def test_kat_default_groups_and_flat_inputs(lib, backend, impl_backend):
    backend(impl_backend)
    for name, kw, shape in [("kat_rational", {}, (3, 16, 5, 3)), ("kat_rational", {}, (7, 8)),
                            ("pau", {}, (37,)), ("pau", {}, (3, 5000)), ("acon_c", {}, (4099,))]:
        fast, ref = pair(name, kw)
        x, g = inputs(shape, torch.float32)
        matches_reference(fast, ref, x, g)


def test_other_degrees_run_the_eager_path_under_native(lib, backend):
    backend("native")
    fast, ref = pair("pau", {"degrees": (3, 2), "groups": 2})
    x, g = inputs((4, C, 5), torch.float32)
    matches_reference(fast, ref, x, g)


@pytest.mark.parametrize("impl_backend", ["native", "eager"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_gradcheck_float64_on_the_fast_path(lib, backend, impl_backend, name, kw):
    backend(impl_backend)
    fast, _ = pair(name, kw, torch.float64, seed=1)
    x = torch.randn(2, C, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    names = [n for n, _ in fast.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in fast.parameters()]

    def f(x, *vals):
        return torch.func.functional_call(fast, dict(zip(names, vals)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params))


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_gradcheck_float64_reference(name, kw):
    _, ref = pair(name, kw, torch.float64, seed=1)
    x = torch.randn(2, C, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    names = [n for n, _ in ref.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in ref.parameters()]
    assert torch.autograd.gradcheck(lambda x, *v: torch.func.functional_call(ref, dict(zip(names, v)), (x,)),
                                    (x, *params))


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_fast_path_saves_one_input_sized_tensor(lib, name, kw):
    fast, _ = pair(name, kw)
    assert saved_input_sized(fast, torch.randn(4, C, 5, 5, requires_grad=True)) == 1


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_double_backward_and_nan(lib, name, kw):
    fast, ref = pair(name, kw)
    x, g = inputs((4, C, 5), torch.float32)
    results = double_backward_values((fast, ref), x, g, torch.randn_like(x))
    close(*results, 1e-4, 1e-4)
    x[0, 0, 0] = float("nan")
    assert torch.isnan(fast(x)[0, 0, 0]) and torch.isnan(fast(x)).sum() == 1


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_compute_in_float32(lib, dtype):
    fast, ref = pair("kat_rational", {"groups": 3})
    x, g = inputs((4, C, 6), torch.float32)
    y = fast(x.to(dtype))
    assert y.dtype == dtype
    torch.testing.assert_close(y.float(), ref(x.to(dtype).float()), rtol=1e-2, atol=1e-2)


def test_a_failed_build_warns_once_and_runs_eager(monkeypatch, backend):
    backend("auto")
    monkeypatch.setattr(fast_native, "_lib", None)
    monkeypatch.setattr(fast_native, "_failed", None)
    monkeypatch.setattr(fast_native, "_build", lambda: (_ for _ in ()).throw(RuntimeError("no compiler here")))
    fast, ref = pair("pau", {"groups": 2})
    x, g = inputs((2, C, 5, 5), torch.float32)
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        got = values(fast, x, g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values(fast, x, g)
    assert fast_core.fast_path("cpu") == "eager"
    close(got, values(fast, x, g), 0, 0)
    matches_reference(fast, ref, x, g)


@pytest.mark.skipif(os.environ.get("MIXACT_TEST_COMPILE") != "1",
                    reason="compiles with inductor (a minute or more); set MIXACT_TEST_COMPILE=1")
def test_compile_backend_matches_the_reference(backend):
    # the path CUDA takes (torch.compile of the eager functions), here on CPU: both versions, shared numerator
    backend("compile")
    for name, kw in [("pau", {}), ("kat_rational", {"groups": 3}), ("pau", {"version": "B"})]:
        fast, ref = pair(name, kw)
        x, g = inputs((4, C, 5), torch.float32)
        matches_reference(fast, ref, x, g)
    assert not fast_core._broken, "a kernel fell back to eager"


# ---------------------------------------------------- the backward's reduction error


def test_native_reduction_error_is_float32_rounding_not_accumulation(lib, backend):
    backend("native")
    assert reduction_error((16, 8, 28, 28)) < 1e-7  # one set: flat chunks of 4096 (documented number: 64×32×28×28)
    assert reduction_error((16, 8, 28, 28), groups=8) < 1e-7  # per channel: rows of 784
    assert reduction_error((16, 8, 28, 28), version="B") < 1e-7
    # negative control: one sequential float32 running sum over as many terms is visibly worse (~4e-6)
    terms = torch.randn(16 * 8 * 28 * 28, generator=torch.Generator().manual_seed(0)).abs().numpy()
    naive = float(np.cumsum(terms, dtype=np.float32)[-1])
    exact = terms.astype(np.float64).sum()
    assert abs(naive - exact) / exact > 1e-6


# ------------------------------------------------------------------ registry table


def _table_in(path: Path) -> str:
    text = path.read_text()
    match = re.search(r"<!-- registry-table -->\n(.*?)<!-- /registry-table -->", text, re.S)
    assert match, f"{path} has no <!-- registry-table --> … <!-- /registry-table --> block"
    return match.group(1)


@pytest.mark.parametrize("page", ["README.md", "book/intro.md"])
def test_the_registry_tables_are_the_generated_one(page):
    assert _table_in(ROOT / page) == registry_markdown(), (
        f"{page}'s activation table is out of date: paste mixact_lib.activations.registry.registry_markdown()")


def test_registry_table_rows():
    rows = {r["name"].split(" ")[0]: r for r in registry_table()}
    for name in ("pau", "kat_rational", "acon_c"):
        assert rows[name]["fused on CPU"] == "yes" and rows[name]["source"] != "–"
    assert rows["relu"]["fused on CPU"] == "no" and rows["relu"]["parameters per site"] == "0"
    assert rows["kat_rational"]["parameters per site"] == "38 (4·G + 6 with G groups)"  # one shared numerator
    assert rows["pau"]["parameters per site"] == "10 (10·G with G groups)"
    assert rows["acon_c"]["parameters per site"] == "3 (3·C per channel)"
    assert all(r["source"] != "–" for r in rows.values()), "every activation names its source"
    assert math.isclose(len(rows), len(set(rows)))
