"""Fused single learnable activations (paper B's three, its baselines, ACON-C), saving only x.

Each activation: ``*_fwd``, ``*_bwd`` (analytic gradients: the parameter ones are
reductions over the input), ``*_ref`` (plain torch, for double backward) and a
module subclassing the reference class, so parameters, ``state_dict`` and
``describe()`` are the reference's. Conventions at kinks follow the reference
exactly: AReLU's max() splits the gradient half/half at a tie (as
``torch.maximum``), PReLU and PELU take the x ≥ 0 branch at x = 0, FReLU the
x > 0 one.

tanh is computed as 2σ(2u) − 1: σ is vectorised with a fast exp on CPU while
``torch.tanh`` is several times slower there; absolute error ≈ 1e-7.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .fast_core import Kernel, channel_view, fused_apply, fused_ok, reduce_to, total
from .learnable import ACONC, PELU, AReLU, ASigmoid, ATanh, FReLU, PReLU, SwishBeta
from .registry import register_fast

_aten = torch.ops.aten


def _only(needs, grads):
    return tuple(g if n else None for g, n in zip(grads, needs))


# ---------------------------------------------------------------- AReLU (eq. 12)
# max(a·z + c, b·z + d) = b·z + d + relu((a − b)·z + (c − d))


def arelu_fwd(z: Tensor, params, static) -> Tensor:
    a, b, c, d = params
    return torch.mul(z, a - b).add_(c - d).relu_().addcmul_(z, b).add_(d)


def arelu_bwd(z: Tensor, params, static, grad: Tensor, needs):
    a, b, c, d = params
    # h = 1 where the a-branch wins, 0 where the b-branch wins, ½ at a tie (torch.maximum's rule)
    h = torch.mul(z, a - b).add_(c - d).sign_().add_(1).mul_(0.5)
    grad_a = h.mul_(grad)  # grad·h
    grad_b = grad - grad_a  # grad·(1 − h)
    dx = torch.mul(grad, b).addcmul_(grad_a, a - b) if needs[0] else None
    return _only(needs, (dx, reduce_to(grad_a, z, a), reduce_to(grad_b, z, b), total(grad_a, c), total(grad_b, d)))


def arelu_ref(z: Tensor, params, static) -> Tensor:
    a, b, c, d = params
    return torch.maximum(a * z + c, b * z + d)


# --------------------------------------------------- ASigmoid, ATanh (eqs. 10–11)


def asigmoid_fwd(z: Tensor, params, static) -> Tensor:
    a, b, c, d = params
    return torch.mul(z, a).add_(c).sigmoid_().mul_(b).add_(d)


def asigmoid_bwd(z: Tensor, params, static, grad: Tensor, needs):
    a, b, c, d = params
    s = torch.mul(z, a).add_(c).sigmoid_()
    gd = _aten.sigmoid_backward(grad, s)  # grad·σ'(u)
    dx = torch.mul(gd, a * b) if needs[0] else None
    return _only(needs, (dx, b * reduce_to(gd, z, a), reduce_to(grad, s, b), b * total(gd, c), total(grad, d)))


def asigmoid_ref(z: Tensor, params, static) -> Tensor:
    a, b, c, d = params
    return b * torch.sigmoid(a * z + c) + d


def _tanh_affine(z: Tensor, a: Tensor, c: Tensor) -> Tensor:
    """tanh(a·z + c) = 2σ(2(a·z + c)) − 1."""
    return torch.mul(z, 2 * a).add_(2 * c).sigmoid_().mul_(2).sub_(1)


def atanh_fwd(z: Tensor, params, static) -> Tensor:
    a, b, c, d = params
    return _tanh_affine(z, a, c).mul_(b).add_(d)


def atanh_bwd(z: Tensor, params, static, grad: Tensor, needs):
    a, b, c, d = params
    t = _tanh_affine(z, a, c)
    gd = _aten.tanh_backward(grad, t)  # grad·(1 − t²)
    dx = torch.mul(gd, a * b) if needs[0] else None
    return _only(needs, (dx, b * reduce_to(gd, z, a), reduce_to(grad, t, b), b * total(gd, c), total(grad, d)))


def atanh_ref(z: Tensor, params, static) -> Tensor:
    a, b, c, d = params
    return b * torch.tanh(a * z + c) + d


# ------------------------------------------------------------------------- PELU
# (a/b)·x for x ≥ 0, a·(e^{x/b} − 1) for x < 0; a, b already positive (softplus outside)


def _pelu_em1(x: Tensor, b: Tensor) -> Tensor:
    # e^{x/b} − 1 for x < 0, exactly 0 for x ≥ 0. exp − 1 rather than expm1: torch's CPU expm1 is
    # not vectorised (10× slower than exp); the cost is an absolute error ≈ 1e-7 near 0
    return torch.clamp_max(x, 0).div_(b).exp_().sub_(1)


def pelu_fwd(x: Tensor, params, static) -> Tensor:
    a, b = params
    return _pelu_em1(x, b).mul_(a).addcmul_(torch.relu(x), a / b)


def pelu_bwd(x: Tensor, params, static, grad: Tensor, needs):
    a, b = params
    em1 = _pelu_em1(x, b)
    da = reduce_to(grad, torch.relu(x), a).div_(b).add_(reduce_to(grad, em1, a)) if needs[1] else None
    grad_e = em1.add_(1).mul_(grad)  # grad·e^{x/b} for x < 0, grad for x ≥ 0
    dx = torch.mul(grad_e, a / b) if needs[0] else None
    db = reduce_to(grad_e, x, b).mul_(-a / (b * b)) if needs[2] else None
    return dx, da, db


def pelu_ref(x: Tensor, params, static) -> Tensor:
    a, b = params
    return torch.where(x >= 0, (a / b) * x, a * torch.expm1(torch.clamp(x, max=0.0) / b))


# ------------------------------------------------------------------------ FReLU


def frelu_fwd(x: Tensor, params, static) -> Tensor:
    (b,) = params
    return torch.relu(x).add_(b)


def frelu_bwd(x: Tensor, params, static, grad: Tensor, needs):
    (b,) = params
    dx = _aten.threshold_backward(grad, x, 0) if needs[0] else None
    return _only(needs, (dx, total(grad, b)))


def frelu_ref(x: Tensor, params, static) -> Tensor:
    (b,) = params
    return F.relu(x) + b


# ------------------------------------------------------------------- Swish-β


def swish_fwd(x: Tensor, params, static) -> Tensor:
    (beta,) = params
    return torch.mul(x, beta).sigmoid_().mul_(x)


def swish_bwd(x: Tensor, params, static, grad: Tensor, needs):
    (beta,) = params
    u = x * beta
    dx = _aten.silu_backward(grad, u) if needs[0] else None  # d/dx x·σ(βx) = silu'(βx)
    dbeta = None
    if needs[1]:  # Σ grad·x²·σ'(βx)
        dbeta = reduce_to(_aten.sigmoid_backward(grad * x, u.sigmoid_()), x, beta)
    return dx, dbeta


def swish_ref(x: Tensor, params, static) -> Tensor:
    (beta,) = params
    return x * torch.sigmoid(beta * x)


# ------------------------------------------------------------------------ PReLU


def prelu_fwd(x: Tensor, params, static) -> Tensor:
    (alpha,) = params
    return torch.relu(x).addcmul_(torch.clamp_max(x, 0), alpha)


def prelu_bwd(x: Tensor, params, static, grad: Tensor, needs):
    (alpha,) = params
    grad_neg = torch.sign(x).neg_().relu_().mul_(grad)  # grad·[x < 0]: slope 1 at x = 0, as the reference
    dx = torch.addcmul(grad, grad_neg, alpha - 1) if needs[0] else None
    return _only(needs, (dx, reduce_to(grad_neg, x, alpha)))


def prelu_ref(x: Tensor, params, static) -> Tensor:
    (alpha,) = params
    return torch.where(x >= 0, x, alpha * x)


# ------------------------------------------------------------------------ ACON-C
# y = d·x·σ(β·d·x) + p2·x, d = p1 − p2. With u = β·d·x, s = σ(u) and h = x·s·(1 + u(1 − s)):
# ∂y/∂x = d·s·(1 + u(1 − s)) + p2,  ∂y/∂p1 = h,  ∂y/∂p2 = x − h,  ∂y/∂β = d²·x²·s(1 − s)


def acon_fwd(x: Tensor, params, static) -> Tensor:
    p1, p2, beta = params
    d = p1 - p2
    return torch.mul(x, beta * d).sigmoid_().mul_(x).mul_(d).addcmul_(x, p2)


def acon_bwd(x: Tensor, params, static, grad: Tensor, needs):
    p1, p2, beta = params
    d = p1 - p2
    u = x * (beta * d)
    gs = _aten.silu_backward(grad, u)  # g·s·(1 + u(1 − s)): the SiLU derivative at u
    dx = torch.mul(gs, d).addcmul_(grad, p2) if needs[0] else None
    gh = reduce_to(gs, x, p1) if needs[1] or needs[2] else None  # Σ g·h
    dp2 = reduce_to(grad, x, p2).sub_(gh) if needs[2] else None
    dbeta = None
    if needs[3]:  # Σ g·d²·x²·σ'(u)
        dbeta = reduce_to(_aten.sigmoid_backward(grad * x, u.sigmoid_()), x, beta).mul_(d * d)
    return dx, gh if needs[1] else None, dp2, dbeta


def acon_ref(x: Tensor, params, static) -> Tensor:
    p1, p2, beta = params
    return (p1 - p2) * x * torch.sigmoid(beta * (p1 - p2) * x) + p2 * x


class _NativeSingle:
    """The same activation as a one-pass C++ kernel (``native/single_core.h``), float32/float64 on CPU.

    Parameters go in as a (4, C) matrix in the order the module passes them (unused rows zero;
    :func:`.fast_native.pack`); float16/bfloat16 compute in float32. None for anything else.
    """

    #: kind numbers of ``native/single_core.h``
    KINDS = {"arelu": 0, "asigmoid": 1, "atanh": 2, "pelu": 3, "frelu": 4, "swish_beta": 5, "prelu": 6, "acon_c": 7}

    def __init__(self, name: str):
        self.kind = self.KINDS[name]

    def fwd(self, x: Tensor, params, static):
        from .fast_native import library, pack

        packed = pack(x, params, 4, range(len(params)))
        return None if packed is None else library().single_forward(*packed, self.kind).to(x.dtype)

    def bwd(self, x: Tensor, params, static, grad: Tensor, needs):
        from .fast_native import library, pack, unpack_grads

        packed = pack(x, params, 4, range(len(params)))
        if packed is None:
            return None
        work, par = packed
        dx, sums = library().single_backward(work, grad.to(work.dtype).contiguous(), par, self.kind)
        return [dx.to(x.dtype) if needs[0] else None, *unpack_grads(sums, params, range(len(params)), needs[1:])]


KERNELS = {
    "arelu": Kernel(arelu_fwd, arelu_bwd, arelu_ref, native=_NativeSingle("arelu")),
    "asigmoid": Kernel(asigmoid_fwd, asigmoid_bwd, asigmoid_ref, native=_NativeSingle("asigmoid")),
    "atanh": Kernel(atanh_fwd, atanh_bwd, atanh_ref, native=_NativeSingle("atanh")),
    "pelu": Kernel(pelu_fwd, pelu_bwd, pelu_ref, native=_NativeSingle("pelu")),
    "frelu": Kernel(frelu_fwd, frelu_bwd, frelu_ref, native=_NativeSingle("frelu")),
    "swish_beta": Kernel(swish_fwd, swish_bwd, swish_ref, native=_NativeSingle("swish_beta")),
    "prelu": Kernel(prelu_fwd, prelu_bwd, prelu_ref, native=_NativeSingle("prelu")),
    "acon_c": Kernel(acon_fwd, acon_bwd, acon_ref, native=_NativeSingle("acon_c")),
}


# ------------------------------------------------------------------- modules


class FastAReLU(AReLU):
    def forward(self, z: Tensor) -> Tensor:
        if self.tie != "split" or not fused_ok(z):  # the kernels split ties; tie="first" runs the reference
            return super().forward(z)
        return fused_apply(KERNELS["arelu"], None, z, self.a, self.b, self.c, self.d)


class FastASigmoid(ASigmoid):
    def forward(self, z: Tensor) -> Tensor:
        if not fused_ok(z):
            return super().forward(z)
        return fused_apply(KERNELS["asigmoid"], None, z, self.a, self.b, self.c, self.d)


class FastATanh(ATanh):
    def forward(self, z: Tensor) -> Tensor:
        if not fused_ok(z):
            return super().forward(z)
        return fused_apply(KERNELS["atanh"], None, z, self.a, self.b, self.c, self.d)


class FastPELU(PELU):
    def forward(self, x: Tensor) -> Tensor:
        if not fused_ok(x):
            return super().forward(x)
        return fused_apply(KERNELS["pelu"], None, x, *self.positive_params())


class FastFReLU(FReLU):
    def forward(self, x: Tensor) -> Tensor:
        if not fused_ok(x):
            return super().forward(x)
        return fused_apply(KERNELS["frelu"], None, x, channel_view(self.b, x.dim()))


class FastSwishBeta(SwishBeta):
    def forward(self, x: Tensor) -> Tensor:
        if not fused_ok(x):
            return super().forward(x)
        return fused_apply(KERNELS["swish_beta"], None, x, self.beta)


class FastPReLU(PReLU):
    def forward(self, x: Tensor) -> Tensor:
        if not fused_ok(x):
            return super().forward(x)
        return fused_apply(KERNELS["prelu"], None, x, channel_view(self.weight, x.dim()))


class FastACONC(ACONC):
    def forward(self, x: Tensor) -> Tensor:
        if not fused_ok(x):
            return super().forward(x)
        params = (channel_view(p, x.dim()) for p in (self.p1, self.p2, self.beta))
        return fused_apply(KERNELS["acon_c"], None, x, *params)


FAST_SINGLE = {
    "arelu": FastAReLU,
    "asigmoid": FastASigmoid,
    "atanh": FastATanh,
    "pelu": FastPELU,
    "frelu": FastFReLU,
    "swish_beta": FastSwishBeta,
    "prelu": FastPReLU,
    "acon_c": FastACONC,
}

for _name, _cls in FAST_SINGLE.items():
    _cls.__doc__ = (_cls.__mro__[1].__doc__ or "") + "\n    Fast path: fused, saves only the input (``fast_single``).\n"
    register_fast(_name, _cls)
