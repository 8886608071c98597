"""Fused mixtures: ``mix`` and ``adact`` as one kernel that saves only the input.

A mixture Σ_i p_i·f_i(x) of the known members is linear in a handful of basis
functions φ_j of x, so it is rewritten as

    Mix(x) = Σ_j c_j·φ_j(x),   c = coefficients built from p and the members' parameters.

| basis φ_j   | value                         | members feeding its coefficient c_j                  |
| ----------- | ----------------------------- | ---------------------------------------------------- |
| ``pos``     | x⁺ = max(x, 0)                | relu, lrelu, prelu, rrelu, elu: p                    |
| ``neg``     | x⁻ = min(x, 0)                | lrelu p·slope, prelu p·α, rrelu p·mean slope (eval)  |
| ``zero``    | 0 (a derivative at x = 0)     | prelu's x ≥ 0 convention: p·(1 − α)                  |
| ``em1``     | e^x − 1 for x ≤ 0, else 0     | elu: p·α                                             |
| ``silu``    | x·σ(x)                        | silu: p                                              |
| ``mish``    | x·tanh(softplus(x))           | mish: p                                              |
| ``sigmoid`` | σ(x)                          | sigmoid: p                                           |
| ``tanh``    | tanh(x)                       | tanh: p                                              |
| ``sin``     | sin(x)                        | sin: p                                               |
| ``noise``   | k·x⁻, k a random code         | rrelu in training: p·scale (and p·offset to ``neg``) |

RReLU in training draws a slope r = offset + scale·k per element (k from
:class:`~.fast_core.RandomSlopes`, redrawn in backward from a seed, never
stored); the constant part joins ``neg``, so only k·x⁻ is random.

All piecewise-linear members merge into one function A·x⁺ + B·x⁻ with a blended
slope. Every σ-family feature comes from one ``s = sigmoid(x)`` (q = 1 − s):

    e^x − 1 = (s − q)/q,   tanh(softplus(x)) = s(1 + q)/(1 + q²),   tanh(x) = (s − q)/(1 − 2sq).

These forms never overflow (s, q ∈ [0, 1]; at x = +∞ the ELU ratio is +∞ and is
clamped to 0, where it belongs). Their absolute error is ≈ 1e-7 (float32),
so tanh and e^x − 1 lose *relative* accuracy for |x| ≲ 1e-3; the tests compare
with the reference to rtol 1e-5, atol 1e-5.

The coefficients c_j are computed outside the autograd.Function by ordinary
differentiable torch code, so the Function only returns Σ grad·φ_j (reduced to
c_j's shape) and autograd carries those to the softmax weights, PReLU's α and the
per-channel weights. A member set with anything else (e.g. ``arelu`` inside a
``mix``) runs the reference forward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .fast_core import Kernel, RandomSlopes, channel_view, fused_apply, fused_ok, reduce_to
from .mixture import AdAct, Mix
from .registry import register_fast

#: the basis, in the order coefficients are passed
FEATURES = ("pos", "neg", "zero", "em1", "silu", "mish", "sigmoid", "tanh", "sin", "noise")
_FROM_SIGMOID = {"em1", "silu", "mish", "sigmoid", "tanh"}
#: members the fused kernel knows; any other member sends the mixture to the reference forward
FUSED_MEMBERS = ("relu", "lrelu", "prelu", "rrelu", "elu", "silu", "mish", "sigmoid", "tanh", "sin")


# ------------------------------------------------------- shared σ-family pieces


def _sig(x: Tensor) -> tuple[Tensor, Tensor]:
    s = torch.sigmoid(x)
    return s, torch.rsub(s, 1)


def _em1(s: Tensor, q: Tensor) -> Tensor:
    """e^x − 1 for x ≤ 0 and 0 for x > 0 (ELU's negative branch), from s = σ(x)."""
    return (s - q).div_(q).clamp_max_(0)


def _tsp(s: Tensor, q: Tensor) -> Tensor:
    """tanh(softplus(x)) = n/(n + 2) with n = e^x(e^x + 2), rewritten in s: s(1 + q)/(1 + q²)."""
    return (q + 1).mul_(s).div_(torch.mul(q, q).add_(1))


def _tanh(s: Tensor, q: Tensor) -> Tensor:
    """tanh(x) = (e^2x − 1)/(e^2x + 1) = (s − q)/(s² + q²) = (s − q)/(1 − 2sq)."""
    return (s - q).div_(torch.mul(s, q).mul_(-2).add_(1))


def _acc(acc: Tensor | None, t: Tensor, c: Tensor) -> Tensor:
    """acc + c·t, in place into acc (which is always a temporary of ours)."""
    return torch.mul(t, c) if acc is None else acc.addcmul_(t, c)


# ------------------------------------------------------------------ the kernel


def mix_fwd(x: Tensor, coefs: tuple[Tensor, ...], static) -> Tensor:
    plan, r = static
    c = dict(zip(plan, coefs))
    s = q = tsp = None
    if _FROM_SIGMOID & c.keys():
        s, q = _sig(x)
    # everything proportional to x in one multiplier: x·(B + c_silu·s + c_mish·tsp)
    m = None
    if "silu" in c:
        m = torch.mul(s, c["silu"])
    if "mish" in c:
        tsp = _tsp(s, q)
        m = tsp.mul_(c["mish"]) if m is None else m.addcmul_(tsp, c["mish"])
    if "neg" in c:
        m = m.add_(c["neg"]) if m is not None else None
        y = m.mul_(x) if m is not None else x * c["neg"]
    else:
        y = m.mul_(x) if m is not None else None
    if "pos" in c:  # A·x⁺ + B·x⁻ = B·x + (A − B)·x⁺
        y = _acc(y, torch.relu(x), c["pos"] - c["neg"] if "neg" in c else c["pos"])
    if "em1" in c:
        y = _acc(y, _em1(s, q), c["em1"])
    if "sigmoid" in c:
        y = _acc(y, s, c["sigmoid"])
    if "tanh" in c:
        y = _acc(y, _tanh(s, q), c["tanh"])
    if "sin" in c:
        y = _acc(y, torch.sin(x), c["sin"])
    if "noise" in c:
        y = _acc(y, torch.clamp_max(x, 0).mul_(r), c["noise"])
    return y


def mix_bwd(x: Tensor, coefs: tuple[Tensor, ...], static, grad: Tensor, needs: tuple[bool, ...]):
    plan, r = static
    c = dict(zip(plan, coefs))
    want = dict(zip(plan, needs[1:]))
    grads = dict.fromkeys(plan)
    s = q = tsp = None
    if _FROM_SIGMOID & c.keys():
        s, q = _sig(x)

    # D = dMix/dx. Piecewise-linear part plus ELU's constant: k0 + k1·[x > 0] (+ z·[x = 0])
    D = None
    if "pos" in c:
        k1 = c["pos"]
        k0 = c["neg"] if "neg" in c else None
        if "em1" in c:
            k0 = c["em1"] if k0 is None else k0 + c["em1"]
        if k0 is not None:
            k1 = k1 - k0
        sign = torch.sign(x)
        if "zero" in c:  # H = [x>0] = (σ + σ²)/2, Z = [x=0] = 1 − σ², σ = sign(x): Horner in σ
            z, half = c["zero"], k1 / 2
            D = torch.mul(sign, half - z).add_(half).mul_(sign).add_(z if k0 is None else k0 + z)
        else:
            D = sign.relu_().mul_(k1)
            if k0 is not None:
                D.add_(k0)
        if want["pos"]:
            grads["pos"] = reduce_to(grad, torch.relu(x), c["pos"])
        if "neg" in c and want["neg"]:
            grads["neg"] = reduce_to(grad, torch.clamp_max(x, 0), c["neg"])
    if "em1" in c:
        em1 = _em1(s, q)
        D = _acc(D, em1, c["em1"])
        if want["em1"]:
            grads["em1"] = reduce_to(grad, em1, c["em1"])
    if "silu" in c or "mish" in c:
        # d/dx x·u(x) = u + x·u',  u = c_s·s + c_m·tsp,  u' = s·(c_s·q + c_m·(1 − tsp²))
        gx = grad * x if (want.get("silu") or want.get("mish")) else None
        v = None
        if "silu" in c:
            v = torch.mul(q, c["silu"])
            D = _acc(D, s, c["silu"])
            if gx is not None and want["silu"]:
                grads["silu"] = reduce_to(gx, s, c["silu"])
        if "mish" in c:
            tsp = _tsp(s, q)
            D = _acc(D, tsp, c["mish"])
            if gx is not None and want["mish"]:
                grads["mish"] = reduce_to(gx, tsp, c["mish"])
            v = _acc(v, tsp.mul_(tsp).neg_().add_(1), c["mish"])
        D = D.addcmul_(v.mul_(s), x)
    if "sigmoid" in c:
        D = _acc(D, torch.mul(s, q), c["sigmoid"])
        if want["sigmoid"]:
            grads["sigmoid"] = reduce_to(grad, s, c["sigmoid"])
    if "tanh" in c:
        t = _tanh(s, q)
        if want["tanh"]:
            grads["tanh"] = reduce_to(grad, t, c["tanh"])
        D = _acc(D, t.mul_(t).neg_().add_(1), c["tanh"])
    if "sin" in c:
        D = _acc(D, torch.cos(x), c["sin"])
        if want["sin"]:
            grads["sin"] = reduce_to(grad, torch.sin(x), c["sin"])
    if "noise" in c:  # torch's rrelu: the random slope applies wherever x ≤ 0 (x = 0 included)
        k_neg = torch.sign(x).relu_().neg_().add_(1).mul_(r)
        D = _acc(D, k_neg, c["noise"])
        if want["noise"]:
            grads["noise"] = reduce_to(grad, k_neg.mul_(x), c["noise"])
    dx = D.mul_(grad) if needs[0] else None
    return (dx, *(grads[f] for f in plan))


def mix_ref(x: Tensor, coefs: tuple[Tensor, ...], static) -> Tensor:
    """The same Σ c_j·φ_j(x) from torch's own functions (double backward differentiates this)."""
    plan, r = static
    relu = torch.relu(x)
    features = {
        "pos": lambda: relu,
        "neg": lambda: x - relu,
        "zero": lambda: x * (x == 0),  # value 0, derivative 1 at x = 0 only (prelu's convention)
        "em1": lambda: F.elu(x) - relu,
        "silu": lambda: F.silu(x),
        "mish": lambda: F.mish(x),
        "sigmoid": lambda: torch.sigmoid(x),
        "tanh": lambda: torch.tanh(x),
        "sin": lambda: torch.sin(x),
        "noise": lambda: torch.where(x > 0, torch.zeros_like(x), r * x),
    }
    return sum(cj * features[f]() for f, cj in zip(plan, coefs))


def _prepare(x: Tensor, static, start: int):
    """Draw this piece's random codes k (slope = offset + scale·k; the affine part is in the coefficients)."""
    plan, slopes = static
    if slopes is None:
        return plan, None
    return plan, slopes.codes(x, start).to(x.dtype)  # as floats: int16 makes inductor's CPU loop scalar


class _NativeMix:
    """The same kernel in C++ (``native/mix_core.h``): one pass each way on CPU, float32/float64.

    Coefficients go in as one (len(FEATURES), C) matrix (:func:`.fast_native.pack`); float16/bfloat16
    compute in float32. Returns None for anything else (the caller then runs the Python path).
    """

    @staticmethod
    def _inputs(x: Tensor, params, static):
        """(x, coefficient matrix, feature mask, RReLU seed, each parameter's row) or None."""
        from .fast_native import pack

        plan, slopes = static
        rows = [FEATURES.index(f) for f in plan]
        packed = pack(x, params, len(FEATURES), rows)
        if packed is None:
            return None
        return (*packed, sum(1 << r for r in rows), slopes.seed if slopes is not None else 0, rows)

    @classmethod
    def fwd(cls, x: Tensor, params, static):
        from .fast_native import library

        inputs = cls._inputs(x, params, static)
        return None if inputs is None else library().mix_forward(*inputs[:4]).to(x.dtype)

    @classmethod
    def bwd(cls, x: Tensor, params, static, grad: Tensor, needs):
        from .fast_native import library, unpack_grads

        inputs = cls._inputs(x, params, static)
        if inputs is None:
            return None
        work, coef, mask, seed, rows = inputs
        dx, sums = library().mix_backward(work, grad.to(work.dtype).contiguous(), coef, mask, seed)
        # zero's coefficient is detached: it has no gradient to give
        wanted = [need and f != "zero" for f, need in zip(static[0], needs[1:])]
        return [dx.to(x.dtype) if needs[0] else None, *unpack_grads(sums, params, rows, wanted)]


MIX_KERNEL = Kernel(mix_fwd, mix_bwd, mix_ref, prepare=_prepare, native=_NativeMix)


# ------------------------------------------------------------------ the modules


def mixture_basis(module: Mix, x: Tensor):
    """(plan, coefficients, random slopes or None) of a mixture for input x; None if a member is not fused."""
    if any(m not in FUSED_MEMBERS for m in module.member_names):
        return None
    c: dict[str, Tensor] = {}

    def add(feature: str, value: Tensor) -> None:
        c[feature] = value if feature not in c else c[feature] + value

    slopes = None
    for p, name in zip(module._weight_views(x), module.member_names):
        member = module.members[name]
        if name in ("relu", "lrelu", "prelu", "rrelu", "elu"):
            add("pos", p)
        if name == "lrelu":
            add("neg", p * member.negative_slope)
        elif name == "prelu":
            alpha = channel_view(member.weight, x.dim())
            add("neg", p * alpha)
            add("zero", (p * (1 - alpha)).detach())
        elif name == "rrelu":
            if member.training:  # p·r·x⁻ with r = offset + scale·k: p·offset·x⁻ + p·scale·k·x⁻
                slopes = RandomSlopes(member.lower, member.upper)
                offset, scale = slopes.affine(x.device)
                add("neg", p * offset)
                add("noise", p * scale)
            else:  # F.rrelu in eval is leaky_relu with the mean slope
                add("neg", p * ((member.lower + member.upper) / 2))
        elif name == "elu":
            add("em1", p * member.alpha)
        elif name in ("silu", "mish", "sigmoid", "tanh", "sin"):
            add(name, p)
    plan = tuple(f for f in FEATURES if f in c)
    return plan, tuple(c[f] for f in plan), slopes


class _FusedMixture:
    """Forward of a mixture through :data:`MIX_KERNEL`; everything else is the reference class's."""

    def forward(self, x: Tensor) -> Tensor:
        if fused_ok(x):
            basis = mixture_basis(self, x)
            if basis is not None:
                plan, coefs, slopes = basis
                return fused_apply(MIX_KERNEL, (plan, slopes), x, *coefs)
        return super().forward(x)


class FastMix(_FusedMixture, Mix):
    __doc__ = Mix.__doc__ + "\n    Fast path: one fused kernel saving only x (``mixact_lib.activations.fast_mix``).\n"


class FastAdAct(_FusedMixture, AdAct):
    __doc__ = AdAct.__doc__ + "\n    Fast path: one fused kernel saving only x (``mixact_lib.activations.fast_mix``).\n"


register_fast("mix", FastMix)
register_fast("adact", FastAdAct)
