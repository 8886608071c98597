"""Learnable single-function activations: paper B's three and its baselines.

Reference implementations (plain PyTorch, autograd does the rest). Paper B
(Hu et al.) writes the adaptive form as f_A(z) = b·f(a·z + c) + d (eq. 5) with
four scalars per layer; AReLU is the exception, max(a·z + c, b·z + d) (eq. 12).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .fixed import Activation


def _scalar(value: float) -> nn.Parameter:
    return nn.Parameter(torch.tensor(float(value)))


def _values(t: Tensor) -> float | list[float]:
    t = t.detach().float().cpu()
    return t.item() if t.numel() == 1 else t.flatten().tolist()


def _channel_view(p: Tensor, x: Tensor) -> Tensor:
    """Shape a per-channel parameter (C,) to broadcast over dim 1 of x (N, C, ...)."""
    if p.numel() == 1:
        return p.reshape(())
    return p.view(1, -1, *([1] * (x.dim() - 2)))


class PReLU(Activation):
    """PReLU: x for x ≥ 0, α·x otherwise, α learnable (He 2015; paper B baseline, paper C member).

    ``num_parameters`` = 1 shares α across the layer; = C learns one per channel
    (dim 1), as ``torch.nn.PReLU``. The parameter is named ``weight`` like torch's.
    ``init`` is α's start: 0.25 by default (He 2015 and ``torch.nn.PReLU``; paper B does not
    say); paper B's authors start it at 0, a plain ReLU, in their TensorFlow code
    (HuHaigen/Adaptively-Customizing-Activation-Functions), so ``init=0.0`` is theirs
    (:data:`mixact_lib.runs.config.PAPER_B_AUTHORS_ACTIVATION_KWARGS`).
    """

    name = "prelu"
    family = "learnable slope"
    source = "He et al. 2015"

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        if num_parameters < 1:
            raise ValueError(f"prelu needs num_parameters >= 1, got {num_parameters}")
        self.weight = nn.Parameter(torch.full((int(num_parameters),), float(init)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(x >= 0, x, _channel_view(self.weight, x) * x)

    def describe(self) -> dict:
        return {"slope": _values(self.weight)}


class SwishBeta(Activation):
    """Swish with learnable β: x·σ(β·x) (Ramachandran 2017; paper B baseline "Swish").

    The formula of the paper (*Searching for Activation Functions*, its Swish with a trainable β); the authors
    released no code for it, so ``tests/test_authors_formulas.py`` checks it against the equation itself.
    """

    name = "swish_beta"
    family = "learnable slope"
    source = "Ramachandran et al. 2017"

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = _scalar(beta)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.beta * x)

    def describe(self) -> dict:
        return {"beta": _values(self.beta)}


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class PELU(Activation):
    """Parametric ELU (Trottier et al. 2017; paper B baseline).

    PELU(x) = (a/b)·x for x ≥ 0, a·(exp(x/b) − 1) otherwise, with a, b > 0: the formula and gradients of
    the authors' ltrottier/pelu.resnet.torch ``models/PELU/PELU.lua``. ``positive`` says how a, b stay
    positive:

    - ``"clip"``: the authors' rule. a and b are the parameters themselves; before each forward (where
      ``PELU.lua`` does it, so after every optimiser step) a ≥ 2 is set to 1.99, a ≤ 0.1 to 0.11 and
      b ≤ 0.1 to 0.11. Gradients reach a and b unscaled, and vanish past a bound until the reset.
    - ``"softplus"`` (default): a = softplus(a_raw), b = softplus(b_raw), never at a bound; the gradient on
      a_raw is ∂L/∂a·σ(a_raw), so one optimiser takes other steps than under "clip". It stays the default
      because the committed paper B and comparison runs (``activation_kwargs`` {}) trained it.

    ``a`` and ``b`` given to the constructor are the positive initial values (1, 1: ELU) in both.
    """

    name = "pelu"
    family = "learnable slope"
    source = "Trottier et al. 2017"
    POSITIVE = ("softplus", "clip")

    def __init__(self, a: float = 1.0, b: float = 1.0, positive: str = "softplus"):
        super().__init__()
        if a <= 0 or b <= 0:
            raise ValueError(f"pelu needs a > 0 and b > 0, got a={a}, b={b}")
        if positive not in self.POSITIVE:
            raise ValueError(f"pelu positive={positive!r} is not known; choose 'softplus' (a = softplus(a_raw)) "
                             "or 'clip' (the authors' reset of a to [0.11, 1.99] and b to >= 0.11)")
        self.positive = positive
        if positive == "clip":
            self.a, self.b = _scalar(a), _scalar(b)
        else:
            self.a_raw = _scalar(_inverse_softplus(a))
            self.b_raw = _scalar(_inverse_softplus(b))

    def positive_params(self) -> tuple[Tensor, Tensor]:
        if self.positive == "softplus":
            return F.softplus(self.a_raw), F.softplus(self.b_raw)
        # PELU.lua's reset, on the stored values (.data: an in-place reset, not a step autograd should see)
        self.a.data.masked_fill_(self.a.data >= 2.0, 1.99).masked_fill_(self.a.data <= 0.1, 0.11)
        self.b.data.masked_fill_(self.b.data <= 0.1, 0.11)
        return self.a, self.b

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.positive_params()
        # clamp inside exp so the unused branch cannot overflow into inf·0 = NaN gradients
        negative = a * torch.expm1(torch.clamp(x, max=0.0) / b)
        return torch.where(x >= 0, (a / b) * x, negative)

    def describe(self) -> dict:
        a, b = self.positive_params()
        return {"a": _values(a), "b": _values(b)}

    def extra_repr(self) -> str:
        return f"positive={self.positive!r}"


class FReLU(Activation):
    """Flexible ReLU: relu(x) + b, b learnable (Qiu et al. 2018; paper B baseline).

    The authors' kyuusaku/frelu.torch ``models/frelu/PosSReLU.lua``: ``nn.ReLU`` followed by
    ``models/frelu/MyAdd.lua``, a learnable bias per channel (dim 2 of a batch there, dim 1 here) or one for
    the layer, started at ``val`` = −1 by default. Here one scalar b per layer by default;
    ``num_parameters=C`` learns one per channel. ``bias_init`` is b's start: 0 by default (relu(x) at the
    start; the committed paper B and comparison runs trained that), −1 for the authors' start.
    At x = 0 the gradient is that of relu's x > 0 branch, 0, as Torch7's ``nn.ReLU``.
    """

    name = "frelu"
    family = "learnable shift"
    source = "Qiu et al. 2018"

    def __init__(self, bias_init: float = 0.0, num_parameters: int = 1):
        super().__init__()
        self.b = nn.Parameter(torch.full((int(num_parameters),), float(bias_init)))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x) + _channel_view(self.b, x)

    def describe(self) -> dict:
        return {"b": _values(self.b)}


class _AffineWrapped(Activation):
    """Paper B eq. 5: f_A(z) = b·f(a·z + c) + d with four learnable scalars.

    The default init a = 1, b = 1, c = 0, d = 0 makes f_A start as the classic f.
    From there every parameter has a non-zero gradient: ∂f_A/∂a = b·f'(·)·z,
    ∂f_A/∂b = f(·), ∂f_A/∂c = b·f'(·), ∂f_A/∂d = 1.
    """

    def __init__(self, a: float = 1.0, b: float = 1.0, c: float = 0.0, d: float = 0.0):
        super().__init__()
        self.a, self.b, self.c, self.d = _scalar(a), _scalar(b), _scalar(c), _scalar(d)

    @staticmethod
    def f(x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, z: Tensor) -> Tensor:
        return self.b * self.f(self.a * z + self.c) + self.d

    def describe(self) -> dict:
        return {k: _values(getattr(self, k)) for k in "abcd"}


class ASigmoid(_AffineWrapped):
    """ASigmoid(z) = b·σ(a·z + c) + d  (paper B eq. 10). Init a=1, b=1, c=d=0 → σ."""

    name = "asigmoid"
    family = "learnable affine (paper B)"
    source = "Hu et al. (paper B) eq. 10"
    f = staticmethod(torch.sigmoid)


class ATanh(_AffineWrapped):
    """ATanh(z) = b·tanh(a·z + c) + d  (paper B eq. 11). Init a=1, b=1, c=d=0 → tanh."""

    name = "atanh"
    family = "learnable affine (paper B)"
    source = "Hu et al. (paper B) eq. 11"
    f = staticmethod(torch.tanh)


class AReLU(Activation):
    """AReLU(z) = max(a·z + c, b·z + d)  (paper B eq. 12).

    ``start`` picks the initial (a, b, c, d):

    - ``"relu"`` (default): a = 1, b = 0, c = d = 0, exactly ReLU (paper B eq. 13). The branches
      differ, so for z > 0 the ``a``-branch wins (∂/∂a = z, ∂/∂c = 1) and for z < 0 the ``b``-branch
      (∂/∂b = z, ∂/∂d = 1). Setting b = 0.25 gives PReLU's start (eq. 14).
    - ``"authors"``: a = b = 1, c = d = 0, the start of the authors' TensorFlow code
      (HuHaigen/Adaptively-Customizing-Activation-Functions, where every adaptive function starts at
      a = b = 1, c = d = 0). Both branches are the identity, tied at every z; it leaves the tie only
      through ``tie="first"``, which that start sets by default.

    ``tie`` says where max() sends the gradient when a·z + c = b·z + d: ``"split"`` (default for
    ``"relu"``) halves it between the branches, as ``torch.maximum`` does; ``"first"`` (default for
    ``"authors"``) sends all of it to the a-branch, as TensorFlow's ``tf.maximum`` does (its gradient
    masks x ≥ y). Under ``"split"`` a tied start never leaves the identity: a and b, c and d get equal
    gradients at every step, so the tied start is refused there. ``a``, ``b``, ``c``, ``d`` given
    explicitly override the start's values. The fused fast path splits ties, so a ``"first"`` module
    always runs this reference formula (:class:`~.fast_single.FastAReLU` falls back to it).
    """

    name = "arelu"
    family = "learnable affine (paper B)"
    source = "Hu et al. (paper B) eq. 12"
    #: initial (a, b, c, d) and tie rule of each start
    STARTS = {"relu": ((1.0, 0.0, 0.0, 0.0), "split"), "authors": ((1.0, 1.0, 0.0, 0.0), "first")}
    TIES = ("split", "first")

    def __init__(self, a: float | None = None, b: float | None = None, c: float | None = None,
                 d: float | None = None, start: str = "relu", tie: str | None = None):
        super().__init__()
        if start not in self.STARTS:
            raise ValueError(f"arelu start {start!r} is unknown; choose one of {', '.join(self.STARTS)} "
                             "(relu: a=1, b=0; authors: a=b=1 with TensorFlow's tie rule)")
        values, default_tie = self.STARTS[start]
        tie = default_tie if tie is None else tie
        if tie not in self.TIES:
            raise ValueError(f"arelu tie {tie!r} is unknown; choose 'split' (torch.maximum: half to each "
                             "branch) or 'first' (tf.maximum: all to the a-branch)")
        a, b, c, d = (v if given is None else float(given) for v, given in zip(values, (a, b, c, d)))
        if tie == "split" and a == b and c == d:
            raise ValueError(
                f"arelu init a=b={a}, c=d={c} ties both branches: the function is linear and "
                "max() with tie='split' gives both the same gradient, so they never separate. Use distinct "
                "slopes (the default a=1, b=0 is ReLU), or tie='first' as the authors' start does."
            )
        self.tie = tie
        self.a, self.b, self.c, self.d = _scalar(a), _scalar(b), _scalar(c), _scalar(d)

    def forward(self, z: Tensor) -> Tensor:
        first, second = self.a * z + self.c, self.b * z + self.d
        if self.tie == "first":  # where() sends the whole gradient to the branch it picks; ≥ picks the first
            return torch.where(first >= second, first, second)
        return torch.maximum(first, second)

    def extra_repr(self) -> str:
        return f"tie={self.tie}"

    def describe(self) -> dict:
        return {k: _values(getattr(self, k)) for k in "abcd"}


class ACONC(Activation):
    """ACON-C (Ma et al., *Activate or Not: Learning Customized Activation*, CVPR 2021):

        y = (p1 − p2)·x·σ(β(p1 − p2)x) + p2·x

    the authors' formula (nmaac/acon ``acon.py``, ``AconC``): a smooth switch between the linear functions
    p1·x (β(p1 − p2)x → +∞) and p2·x (→ −∞); β sets how sharp. ``num_parameters`` = C learns p1, p2, β per
    channel (dim 1), as the authors' ``AconC(width)`` does; the default 1 shares them across the layer (the
    registry does not know a site's channel count; ``build_model``'s ``per_channel=True`` fills it in).
    ``init`` = "silu" (default): p1 = 1, p2 = 0, β = 1, so the function starts as SiLU (the paper's ACON-A,
    Swish), every parameter with a non-zero gradient; ``p1``/``p2``/``beta`` move that start. ``init`` =
    "random": the authors' start, p1, p2 ~ N(0, 1) drawn independently per entry from torch's generator
    (seed it for a reproducible start), β = 1. The default stays "silu": the committed comparison runs
    trained it.
    """

    name = "acon_c"
    family = "learnable switch"
    source = "Ma et al. 2021 (CVPR), ACON-C"
    INITS = ("silu", "random")

    def __init__(self, num_parameters: int = 1, p1: float = 1.0, p2: float = 0.0, beta: float = 1.0,
                 init: str = "silu"):
        super().__init__()
        if num_parameters < 1:
            raise ValueError(f"acon_c needs num_parameters >= 1, got {num_parameters}")
        if init not in self.INITS:
            raise ValueError(f"acon_c init={init!r} is not known; choose 'silu' (p1 = 1, p2 = 0: SiLU) or "
                             "'random' (the authors' p1, p2 ~ N(0, 1))")
        size = (int(num_parameters),)
        self.init = init
        if init == "random":
            self.p1, self.p2 = nn.Parameter(torch.randn(size)), nn.Parameter(torch.randn(size))
        else:
            self.p1 = nn.Parameter(torch.full(size, float(p1)))
            self.p2 = nn.Parameter(torch.full(size, float(p2)))
        self.beta = nn.Parameter(torch.full(size, float(beta)))

    def forward(self, x: Tensor) -> Tensor:
        p1, p2, beta = (_channel_view(p, x) for p in (self.p1, self.p2, self.beta))
        d = p1 - p2
        return d * x * torch.sigmoid(beta * d * x) + p2 * x

    def describe(self) -> dict:
        return {k: _values(getattr(self, k)) for k in ("p1", "p2", "beta")}


LEARNABLE_ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (PReLU, SwishBeta, PELU, FReLU, ASigmoid, ATanh, AReLU, ACONC)
}
