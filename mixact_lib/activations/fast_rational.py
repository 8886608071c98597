"""Fused rational activations (safe PAU, KAT's group-rational), saving only x.

    y = P(x) / Q(x),  P = Σ_{j=0..m} a_j x^j,
    version A: Q = 1 + D(|x|), D(t) = Σ_{k=1..n} c_k t^k    version B: Q = 1 + |S(x)|, S = Σ_{k=1..n} c_k x^k

The kernel takes the coefficients as one (R, C) matrix, R = m + 1 + n, rows a_0 … a_m, c_1 … c_n, from
:meth:`.rational.PAU.coefficients`: c_k = |b_k| in version A (autograd of that small (G, n) step applies
d|b|/db, so the kernel needs no sign of b), c_k = b_k in B. C = 1 for one set per layer, else one column
per channel of dim 1 (a group's set repeated over its channels by :func:`.rational.group_coefficients`,
whose autograd sums the gradients back per group and, for KAT, over the groups into the shared numerator).

Backward recomputes P, D (or S) and their derivatives from x and, with u = g/Q, sgn(0) = +1 (the
authors' CUDA kernels' copysign(1, +0.0), as :func:`.rational.abs_plus` gives the reference):

    A: v = −g·P/Q²,         dx = u·P′(x) + v·D′(|x|)·sgn(x),   ∂L/∂a_j = Σ u·x^j,   ∂L/∂c_k = Σ v·|x|^k
    B: v = −g·P·sgn(S)/Q²,  dx = u·P′(x) + v·S′(x),            ∂L/∂a_j = Σ u·x^j,   ∂L/∂c_k = Σ v·x^k

Reduction strategy of the native backward (``native/rational_core.h``): the R coefficient sums are
accumulated in the same pass as dx, in 16 independent lanes per row in the input's dtype (a row is a
channel's ``inner`` elements, inner/16 terms per lane, or a flat chunk of 4096 when C = 1, 256 per lane), the lanes
added per row, and the rows added in float64 per thread and then across threads. Measured error of the
float32 coefficient gradients against the same sums in float64 on the same float32 input
(:func:`reduction_error`, ``benchmarks/activations.py --reduction-error``: 64×32×28×28 standard-normal
input and upstream gradient, default leaky-ReLU init), as max over coefficients of |error| / Σ|g·∂y/∂c|:
1.2e-9 with one coefficient set, 4.6e-9 with 8 groups, 1.1e-8 with a set per channel (32) (measured in
version B before issue 29; the test bounds it at 1e-7 in both versions). A single sequential float32 sum
over 10^5 positive terms is off by ~4e-6 on the same scale (``tests/test_rational.py``).

The eager path (no native library, other degrees than (5, 4), or ``set_fast_backend("eager")``) runs the
same formulas as torch ops. Under ``create_graph=True`` backward differentiates the reference formula.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .fast_core import Kernel, fused_apply, fused_ok, reduce_to, total
from .rational import KATRational, PAU, rational_reference
from .registry import register_fast


def _rows(coef: Tensor, ndim: int) -> list[Tensor]:
    """The R coefficient rows, each a 0-dim scalar (C = 1) or a per-channel view for an ndim input."""
    if coef.shape[1] == 1:
        return [c.reshape(()) for c in coef]
    return [c.view(1, -1, *([1] * (ndim - 2))) for c in coef]


def _horner(x: Tensor, c: list[Tensor]) -> Tensor:
    """Σ_j c_j x^j (a new tensor)."""
    out = torch.mul(x, c[-1]) if len(c) > 1 else torch.zeros_like(x)
    if len(c) == 1:
        return out.add_(c[0])
    for cj in reversed(c[1:-1]):
        out.add_(cj).mul_(x)
    return out.add_(c[0])


def _derivative(x: Tensor, c: list[Tensor]) -> Tensor:
    """d/dx Σ_j c_j x^j = Σ_{j≥1} j·c_j x^{j−1}."""
    return _horner(x, [j * cj for j, cj in enumerate(c)][1:]) if len(c) > 1 else torch.zeros_like(x)


def _sign(t: Tensor) -> Tensor:
    """d|t|/dt with +1 at t = 0 (the module docstring's convention)."""
    return torch.where(t >= 0, 1.0, -1.0).to(t.dtype)


def rational_fwd(x: Tensor, params, static) -> Tensor:
    (coef,) = params
    m, version = static
    c = _rows(coef, x.dim())
    d = [torch.zeros_like(c[0])] + c[m + 1 :]
    if version == "A":
        return _horner(x, c[: m + 1]).div_(_horner(x.abs(), d).add_(1))
    return _horner(x, c[: m + 1]).div_(_horner(x, d).abs_().add_(1))


def _moments(weight: Tensor, x: Tensor, powers: range, like: Tensor) -> list[Tensor]:
    """[Σ weight·x^j for j in powers], each summed down to ``like``'s shape (powers ascending from 0 or 1)."""
    out, power = [], None
    for j in powers:
        if j == 0:
            out.append(total(weight, like))
            continue
        power = x.clone() if power is None else power.mul_(x)
        out.append(reduce_to(weight, power, like))
    return out


def _parts(x: Tensor, c: list[Tensor], m: int, version: str, grad: Tensor):
    """(u, v, z, dx): ∂L/∂a_j = Σ u·x^j, ∂L/∂c_k = Σ v·z^k (z = |x| in A, x in B), and the input gradient."""
    a, d = c[: m + 1], [torch.zeros_like(c[0])] + c[m + 1 :]
    p = _horner(x, a)
    z = x.abs() if version == "A" else x
    s = _horner(z, d)
    q_inv = (s.add(1) if version == "A" else s.abs().add_(1)).reciprocal_()
    u = torch.mul(grad, q_inv)  # ∂L/∂P = g/Q
    v = torch.mul(p, q_inv).mul_(u).neg_()  # ∂L/∂D = −g·P/Q² (A); times sgn(S): ∂L/∂S (B)
    ds = _derivative(z, d)
    if version == "A":
        ds.mul_(_sign(x))  # dD(|x|)/dx
    else:
        v.mul_(_sign(s))
    return u, v, z, _derivative(x, a).mul_(u).add_(ds.mul_(v))


def rational_bwd(x: Tensor, params, static, grad: Tensor, needs):
    (coef,) = params
    m, version = static
    c = _rows(coef, x.dim())
    u, v, z, dx = _parts(x, c, m, version, grad)
    dcoef = None
    if needs[1]:
        sums = _moments(u, x, range(m + 1), c[0]) + _moments(v, z, range(1, len(c) - m), c[0])
        dcoef = torch.stack([t.reshape(-1) for t in sums])
    return dx if needs[0] else None, dcoef


def rational_ref(x: Tensor, params, static) -> Tensor:
    (coef,) = params
    return rational_reference(x, coef, *static)


class _NativeRational:
    """The C++ kernel of ``native/rational_core.h`` (degrees (5, 4), both versions, float32/float64 on CPU;
    None otherwise)."""

    DEGREES = {(5, 4)}

    def _packed(self, x: Tensor, coef: Tensor, static):
        m, version = static
        work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        n = coef.shape[0] - m - 1
        if (m, n) not in self.DEGREES or work.dtype not in (torch.float32, torch.float64) or x.numel() >= 1 << 32:
            return None
        return work.contiguous(), coef.detach().to(work.dtype).contiguous(), m, n, "AB".index(version)

    def fwd(self, x: Tensor, params, static):
        from .fast_native import library

        packed = self._packed(x, params[0], static)
        return None if packed is None else library().rational_forward(*packed).to(x.dtype)

    def bwd(self, x: Tensor, params, static, grad: Tensor, needs):
        from .fast_native import library

        packed = self._packed(x, params[0], static)
        if packed is None:
            return None
        work, coef, m, n, version = packed
        dx, sums = library().rational_backward(work, grad.to(work.dtype).contiguous(), coef, m, n, version)
        return [dx.to(x.dtype) if needs[0] else None, sums.to(params[0].dtype) if needs[1] else None]


KERNEL = Kernel(rational_fwd, rational_bwd, rational_ref, native=_NativeRational())


class FastPAU(PAU):
    def forward(self, x: Tensor) -> Tensor:
        if not fused_ok(x):
            return super().forward(x)
        return fused_apply(KERNEL, (self.degrees[0], self.version), x, self.coefficients(x))


class FastKATRational(KATRational, FastPAU):
    pass


for _name, _cls in {"pau": FastPAU, "kat_rational": FastKATRational}.items():
    _cls.__doc__ = ((_cls.__mro__[1].__doc__ or "")
                    + "\n    Fast path: fused, saves only the input (``fast_rational``).\n")
    register_fast(_name, _cls)


def reduction_error(shape: tuple[int, ...] = (64, 32, 28, 28), groups: int = 1, seed: int = 0,
                    version: str = "A") -> float:
    """The fused backward's coefficient-gradient error in float32, relative to the sum's own scale.

    A PAU (default init, ``groups`` groups, ``version``) runs forward and backward on a standard-normal
    float32 input and upstream gradient through the current fast backend; the kernel's coefficient sums
    (∂L/∂a_j, ∂L/∂c_k, before autograd maps c back to b) are evaluated in float64 on the same (float32)
    numbers. Returns max over coefficients of |float32 sum − float64 sum| / Σ|g·∂y/∂c|, the scale any
    summation order's rounding is measured against (the module docstring has the number).
    """
    gen = torch.Generator().manual_seed(seed)
    x, g = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    act = FastPAU(groups=groups, version=version)
    coef = act.coefficients(x).detach().requires_grad_(True)
    fused_apply(KERNEL, (act.degrees[0], version), x, coef).backward(g)
    got = coef.grad.double()
    x64, g64 = x.double(), g.double()
    m = act.degrees[0]
    rows = _rows(coef.detach().double(), x.dim())
    u, v, z, _ = _parts(x64, rows, m, version, g64)
    exact = torch.stack([t.reshape(-1) for t in _moments(u, x64, range(m + 1), rows[0])
                         + _moments(v, z, range(1, len(rows) - m), rows[0])])
    scale = torch.stack([t.reshape(-1) for t in _moments(u.abs(), x64.abs(), range(m + 1), rows[0])
                         + _moments(v.abs(), z.abs(), range(1, len(rows) - m), rows[0])])
    if coef.shape[1] == 1:
        exact, scale = exact.reshape(got.shape), scale.reshape(got.shape)
    return ((got - exact).abs() / scale).max().item()
