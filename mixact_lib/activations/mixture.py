"""Mixtures of activations: paper A's ReLU/tanh/sin mix and paper C's AdAct.

Reference implementation: every member runs on the input and autograd keeps
what it needs. :mod:`mixact_lib.activations.fast_mix` holds the fused versions.
Members are built by name through :mod:`~mixact_lib.activations.names`, not the
registry: the registry imports this module, so the imports run one way.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .fixed import Activation
from .names import SINGLE_ACTIVATIONS, build, resolve_name

#: paper A §2: the three members, in the order of its Table 1 (p1, p2, p3)
PAPER_A_MEMBERS = ("relu", "tanh", "sin")
#: paper C §2: the seven members, in the order the paper lists them
ADACT_MEMBERS = ("relu", "elu", "lrelu", "prelu", "rrelu", "silu", "mish")

#: how raw weights w become mixture weights p (paper A eq. 9 was lost in extraction)
NORMS = ("softmax", "abs", "square", "none")


def normalise(w: Tensor, norm: str) -> Tensor:
    """Map raw weights w (..., k) to mixture weights p along the last dim.

    - ``softmax``: p_i = e^{w_i} / Σ_j e^{w_j}   (paper C §2; our default reading of paper A eq. 9)
    - ``abs``:     p_i = |w_i| / Σ_j |w_j|
    - ``square``:  p_i = w_i² / Σ_j w_j²
    - ``none``:    p_i = w_i (no constraint; an ablation, p does not sum to 1)
    """
    if norm == "softmax":
        return torch.softmax(w, dim=-1)
    if norm == "abs":
        a = w.abs()
        return a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    if norm == "square":
        s = w * w
        return s / s.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    if norm == "none":
        return w
    raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


def _default_raw(norm: str, k: int) -> list[float]:
    # every reading starts from the uniform mixture p_i = 1/k
    if norm == "softmax":
        return [0.0] * k
    if norm == "none":
        return [1.0 / k] * k
    return [1.0] * k


class Mix(Activation):
    """Learnable weighted sum of activations (paper A eq. 10; paper C §2 for AdAct).

        Mix(x) = Σ_i p_i · f_i(x),   p = normalise(w)

    ``members`` are registry names of single activations; the default is paper
    A's (relu, tanh, sin). ``norm`` picks the reading of paper A's lost eq. 9
    (see :func:`normalise`); softmax is the default because it is smooth,
    keeps p_i > 0 with Σp_i = 1 for any w, and is what paper C uses, which makes
    the two papers comparable. ``init`` gives raw weights w (length k); by
    default every reading starts uniform, p_i = 1/k.

    ``per_channel=True`` learns one weight vector per channel (dim 1, needs
    ``num_channels``); the paper's form is one vector per layer.
    Learnable members (e.g. PReLU's slope) are trained with the mixture.
    """

    name = "mix"
    family = "mixture"
    source = "paper A eq. 10"

    def __init__(
        self,
        members: Sequence[str] = PAPER_A_MEMBERS,
        norm: str = "softmax",
        init: Sequence[float] | None = None,
        per_channel: bool = False,
        num_channels: int | None = None,
        member_kwargs: dict[str, dict] | None = None,
    ):
        super().__init__()
        # every name is resolved, so that a mixture named as a member gets the error below, not "unknown"
        known = {**SINGLE_ACTIVATIONS, **MIXTURE_ACTIVATIONS}
        if isinstance(members, str) or len(members) < 1:
            raise ValueError(f"members must be a non-empty sequence of activation names, got {members!r}")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
        names = tuple(resolve_name(m, known) for m in members)
        if len(set(names)) != len(names):
            raise ValueError(f"mixture members must be distinct, got {list(names)}")
        member_kwargs = dict(member_kwargs or {})
        unknown = set(member_kwargs) - set(names)
        if unknown:
            raise ValueError(f"member_kwargs names {sorted(unknown)} which are not members {list(names)}")
        modules = {}
        for m in names:
            module = build(known[m], m, member_kwargs.get(m, {}))  # always the reference class
            if isinstance(module, Mix):
                raise ValueError(f"mixture member {m!r} is itself a mixture; nest mixtures by hand if you must")
            modules[m] = module
        self.member_names = names
        self.members = nn.ModuleDict(modules)
        self.norm = norm
        k = len(names)
        raw = list(init) if init is not None else _default_raw(norm, k)
        if len(raw) != k:
            raise ValueError(f"init has {len(raw)} weights but there are {k} members {list(names)}")
        w = torch.tensor(raw, dtype=torch.float32)
        if per_channel:
            if not num_channels or num_channels < 1:
                raise ValueError("per_channel=True needs num_channels (the size of dim 1 of the input)")
            w = w.repeat(int(num_channels), 1)
        self.per_channel = bool(per_channel)
        self.w = nn.Parameter(w)

    def weights(self) -> Tensor:
        """Normalised mixture weights p, shape (k,) or (C, k); they sum to 1 (except norm='none')."""
        return normalise(self.w, self.norm)

    def _weight_views(self, x: Tensor) -> list[Tensor]:
        p = self.weights()
        if not self.per_channel:
            return list(p.unbind(-1))
        if x.dim() < 2 or x.shape[1] != p.shape[0]:
            raise ValueError(
                f"per-channel mixture has {p.shape[0]} channels but input has shape {tuple(x.shape)}; "
                "dim 1 must match num_channels"
            )
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return [p[:, i].view(shape) for i in range(p.shape[1])]

    def forward(self, x: Tensor) -> Tensor:
        out = None
        for p_i, m in zip(self._weight_views(x), self.member_names):
            term = p_i * self.members[m](x)
            out = term if out is None else out + term
        return out

    def mean_weights(self) -> Tensor:
        """Weights averaged over channels (identical to ``weights()`` when not per-channel)."""
        p = self.weights().detach()
        return p.mean(0) if self.per_channel else p

    def describe(self) -> dict:
        p = self.mean_weights().float().cpu().tolist()
        raw = self.w.detach().float().cpu()
        raw = (raw.mean(0) if self.per_channel else raw).tolist()
        out = {
            "weights": dict(zip(self.member_names, p)),
            "raw": dict(zip(self.member_names, raw)),
        }
        for m in self.member_names:
            for key, value in self.members[m].describe().items():
                out[f"{m}.{key}"] = value
        return out

    def extra_repr(self) -> str:
        return f"members={list(self.member_names)}, norm={self.norm!r}, per_channel={self.per_channel}"


class AdAct(Mix):
    """AdAct (paper C §2): softmax(w)-weighted sum of ReLU, ELU, LReLU, PReLU, RReLU, SiLU, Mish.

        AdAct(x) = Σ_{i=1}^{7} softmax(w)_i · Act_i(x)

    Eight parameters per unit, as the paper counts: the seven weights w and
    PReLU's slope α (init 0.25). Members and normalisation are fixed; use
    ``mix`` for other sets.
    """

    name = "adact"
    family = "mixture"
    source = "Maiti (paper C) §2"

    def __init__(
        self,
        init: Sequence[float] | None = None,
        per_channel: bool = False,
        num_channels: int | None = None,
        member_kwargs: dict[str, dict] | None = None,
    ):
        super().__init__(
            members=ADACT_MEMBERS,
            norm="softmax",
            init=init,
            per_channel=per_channel,
            num_channels=num_channels,
            member_kwargs=member_kwargs,
        )


MIXTURE_ACTIVATIONS: dict[str, type[Activation]] = {"mix": Mix, "adact": AdAct}

__all__ = ["Mix", "AdAct", "normalise", "NORMS", "PAPER_A_MEMBERS", "ADACT_MEMBERS"]
