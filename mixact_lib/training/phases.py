"""A run is a list of phases; each phase says what trains, with which optimiser, for how long.

This one structure expresses all three papers' protocols:

- paper A §2: three Adam cycles (train the net with the mixture frozen, train the
  mixture with the net frozen, train the net again): ``trains = net, act, net``;
- paper B §5.2: SGD with the learning rate stepped 1e-3 → 1e-4 → 1e-5: three
  phases that share one optimiser (its state carries over, only lr changes);
- paper C §A.2: one AdamW phase of 15 epochs.

Activation parameters never get weight decay: they are few, they are not
weights in the usual sense, and decaying mixture logits or AReLU slopes
towards 0 would bias the very quantities the papers study.
"""
from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..activations import activation_parameters, network_parameters

OPTIMIZERS = ("sgd", "momentum", "adagrad", "adadelta", "adam", "adamw")
TRAINS = ("net", "act", "all")


def _choice(kind: str, value: str, allowed: tuple[str, ...]) -> str:
    key = str(value).lower()
    if key not in allowed:
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown {kind} {value!r}.{hint} Choose one of: {', '.join(allowed)}.")
    return key


@dataclass
class Phase:
    """One stretch of training with a fixed optimiser and a fixed trainable side.

    ``trains``: ``net`` (everything but activations), ``act`` (activation
    parameters only) or ``all``. ``act_lr`` overrides the learning rate of the
    activation parameters (default: ``lr``). ``momentum`` is used by the
    ``momentum`` optimiser (SGD with heavy-ball momentum).
    """

    epochs: int
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    trains: str = "all"
    momentum: float = 0.9
    act_lr: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"phase epochs must be an integer >= 0, got {self.epochs!r}")
        self.optimizer = _choice("optimizer", self.optimizer, OPTIMIZERS)
        self.trains = _choice("phase target (trains)", self.trains, TRAINS)
        if not self.lr > 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr!r}")
        if self.act_lr is not None and not self.act_lr > 0:
            raise ValueError(f"act_lr must be > 0 (or None to use lr), got {self.act_lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def shares_optimizer_with(self, other: Phase) -> bool:
        """True when ``other`` can keep this phase's optimiser and only change learning rates."""
        return (self.optimizer, self.trains, self.weight_decay, self.momentum) == (
            other.optimizer, other.trains, other.weight_decay, other.momentum,
        )


def parse_phases(phases: list[Phase | dict]) -> list[Phase]:
    """Accept Phase objects or plain dicts (from JSON/YAML) and validate them."""
    out = []
    for i, p in enumerate(phases):
        if isinstance(p, Phase):
            out.append(p)
        elif isinstance(p, dict):
            try:
                out.append(Phase(**p))
            except TypeError as err:
                fields = ", ".join(Phase.__dataclass_fields__)
                raise ValueError(f"phase {i}: {err}; a phase accepts: {fields}") from err
        else:
            raise ValueError(f"phase {i} must be a Phase or a dict, got {type(p).__name__}")
    if not out:
        raise ValueError("a run needs at least one phase")
    return out


def param_groups(model: nn.Module, phase: Phase) -> list[dict]:
    """Optimiser groups for ``phase``: network (with weight decay) and activations (without)."""
    groups = []
    if phase.trains in ("net", "all"):
        groups.append({"params": network_parameters(model), "weight_decay": phase.weight_decay,
                       "lr": phase.lr, "name": "net"})
    if phase.trains in ("act", "all"):
        act = activation_parameters(model)
        if act:
            groups.append({"params": act, "weight_decay": 0.0, "lr": phase.act_lr or phase.lr, "name": "act"})
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError(
            f"phase trains {phase.trains!r} but the model has no such parameters "
            "(e.g. trains='act' with a fixed activation such as relu)"
        )
    return groups


def make_optimizer(model: nn.Module, phase: Phase) -> torch.optim.Optimizer:
    """Build the optimiser named by ``phase`` over the side it trains."""
    groups = param_groups(model, phase)
    name = phase.optimizer
    if name == "sgd":
        return torch.optim.SGD(groups, lr=phase.lr)
    if name == "momentum":
        return torch.optim.SGD(groups, lr=phase.lr, momentum=phase.momentum)
    if name == "adagrad":
        return torch.optim.Adagrad(groups, lr=phase.lr)
    if name == "adadelta":
        return torch.optim.Adadelta(groups, lr=phase.lr)
    if name == "adam":
        return torch.optim.Adam(groups, lr=phase.lr)
    return torch.optim.AdamW(groups, lr=phase.lr)


def set_learning_rates(optimizer: torch.optim.Optimizer, phase: Phase) -> None:
    for group in optimizer.param_groups:
        group["lr"] = (phase.act_lr or phase.lr) if group.get("name") == "act" else phase.lr


def set_trainable(model: nn.Module, phase: Phase) -> None:
    """requires_grad on the trained side only, so the frozen side gets no gradient at all."""
    act_ids = {id(p) for p in activation_parameters(model)}
    for p in model.parameters():
        is_act = id(p) in act_ids
        p.requires_grad_(phase.trains == "all" or (phase.trains == "act") == is_act)


@contextlib.contextmanager
def frozen_norm_statistics(model: nn.Module, frozen: bool) -> Iterator[None]:
    """Keep BatchNorm running statistics fixed while the network side is frozen.

    The layers still normalise with batch statistics (train mode); only the
    running averages stop moving (momentum 0), so a frozen network really does
    not change during an activation-only phase.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if frozen else []
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
