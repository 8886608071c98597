"""Fixed activations: the plain members that mixtures are built from.

Every class here is the *reference* implementation: straightforward PyTorch, no
custom autograd. They share the :class:`Activation` base so that model-walking
helpers (``activation_parameters``, ``swap_activations``) recognise them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Activation(nn.Module):
    """Base class of every mixact activation.

    ``describe()`` returns a JSON-friendly dict of the interpretable values
    (empty for fixed activations); the training loop logs it every epoch.
    """

    #: registry name; set by each subclass
    name: str = "activation"
    #: what kind of activation it is, and the paper (and equation) it comes from: :func:`registry_table`
    family: str = ""
    source: str = ""

    def describe(self) -> dict:
        return {}

    def extra_repr(self) -> str:
        values = self.describe()
        return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


class ReLU(Activation):
    """ReLU(x) = max(0, x)  (paper A eq. 6; paper B eq. 4)."""

    name = "relu"
    family = "fixed"
    source = "Nair & Hinton 2010; paper A eq. 6"

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Tanh(Activation):
    """tanh(x) = (e^x − e^−x)/(e^x + e^−x)  (paper A eq. 7; paper B eq. 3)."""

    name = "tanh"
    family = "fixed"
    source = "classic; paper A eq. 7"

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(x)


class Sin(Activation):
    """sin(x)  (paper A eq. 8)."""

    name = "sin"
    family = "fixed"
    source = "classic; paper A eq. 8"

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(x)


class Sigmoid(Activation):
    """σ(x) = 1/(1 + e^−x)  (paper B eq. 1)."""

    name = "sigmoid"
    family = "fixed"
    source = "classic; paper B eq. 1"

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x)


class LReLU(Activation):
    """Leaky ReLU: x for x ≥ 0, s·x otherwise, fixed slope s (Maas 2013; paper C member, paper B baseline).

    ``negative_slope`` s is 0.01 by default (Maas 2013 and ``torch.nn.LeakyReLU``; paper C's AdAct
    member). Paper B does not give it; its authors' TensorFlow code
    (HuHaigen/Adaptively-Customizing-Activation-Functions) uses 0.2, so ``negative_slope=0.2`` is
    theirs (:data:`mixact_lib.runs.config.PAPER_B_AUTHORS_ACTIVATION_KWARGS`).
    """

    name = "lrelu"
    family = "fixed"
    source = "Maas et al. 2013"

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Activation):
    """ELU: x for x > 0, α·(e^x − 1) otherwise (Clevert 2016; paper C member)."""

    name = "elu"
    family = "fixed"
    source = "Clevert et al. 2016"

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SiLU(Activation):
    """SiLU / Swish-1: x·σ(x) (Elfwing 2017, Ramachandran 2017; paper C member)."""

    name = "silu"
    family = "fixed"
    source = "Elfwing et al. 2017; Ramachandran et al. 2017"

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class Mish(Activation):
    """Mish: x·tanh(softplus(x)) (Misra 2020; paper C member)."""

    name = "mish"
    family = "fixed"
    source = "Misra 2020"

    def forward(self, x: Tensor) -> Tensor:
        return F.mish(x)


class RReLU(Activation):
    """Randomised leaky ReLU (Xu 2015; paper C member).

    Training: x for x ≥ 0, s·x otherwise with s ~ U(lower, upper) drawn per element.
    Evaluation: the fixed mean slope s = (lower + upper)/2, exactly as ``torch.nn.RReLU``.
    """

    name = "rrelu"
    family = "fixed (random in training)"
    source = "Xu et al. 2015"

    def __init__(self, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0):
        super().__init__()
        if not 0.0 <= lower <= upper:
            raise ValueError(f"rrelu needs 0 <= lower <= upper, got lower={lower}, upper={upper}")
        self.lower = float(lower)
        self.upper = float(upper)

    def forward(self, x: Tensor) -> Tensor:
        return F.rrelu(x, self.lower, self.upper, training=self.training)

    def extra_repr(self) -> str:
        return f"lower={self.lower:.4g}, upper={self.upper:.4g}"


FIXED_ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (ReLU, Tanh, Sin, Sigmoid, LReLU, ELU, SiLU, Mish, RReLU)
}
