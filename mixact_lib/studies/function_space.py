"""Paper B's learning-rate argument (§4.1, eqs. 19–23) checked in function space.

Paper B compares one weight ``w`` in two networks, f(a·wx) and f(wx), and reads off η̃ = η·a
(eq. 23). Those networks compute different functions. Compared as functions instead, a layer with
an inner slope is exactly a plain layer with rescaled weights, for *any* f:

    f(a·(W x + b)) = f(W′ x + b′),   W′ = a·W,  b′ = a·b.

Since ∂L/∂W = a·∂L/∂W′, one optimiser step on (W, b) at rate η moves (W′, b′) like (:func:`derived_settings`):

- SGD, heavy-ball momentum:  rate η·a² (same β); L2 decay λ becomes λ/a²;
- Adam, RMSprop, AdaGrad:     rate η·a with ε/a; Adam's L2 decay λ → λ/a², AdamW's decoupled λ → λ/a;
- AdaDelta:                   no rate: same lr and ρ, but its ε inside the numerator's root becomes a²·ε
  and the one inside the denominator's root ε/a² (:class:`AdaDelta2`, which keeps them apart).

With a learned together with w (same rate η), w′ = a·w of each layer (w = its flattened [W, b])
follows, in continuous time, the preconditioned flow ẇ′ = −η (a²·I + w wᵀ) ∇_{w′}L; one discrete SGD
step adds exactly η²·a·(wᵀ∇_{w′}L)·∇_{w′}L to it (:func:`learned_slope_errors`).

Everything here runs in float64 on tiny MLPs; the ``paper_b_derivation`` chapter shows the tables.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..activations import make_activation

#: paper B's adaptive form of each fixed function (eq. 20's inner slope; b = 1, c = d = 0 of eq. 5)
ADAPTIVE = {"relu": "arelu", "tanh": "atanh", "sigmoid": "asigmoid"}
#: the optimisers of paper B's Table 5, RMSprop, and the two with weight decay
OPTIMIZERS = ("sgd", "momentum", "adagrad", "adadelta", "rmsprop", "adam", "sgd_wd", "adamw")
#: rate rules: ``derived`` (this module's result), ``paper`` (η·a, eq. 23), ``unchanged`` (the "a
#: cancels" reading), ``decay_kept`` (the derived rate but the original weight decay)
RULES = ("derived", "paper", "unchanged", "decay_kept")
#: largest |logit difference| ÷ logit scale that counts as equal: float64 rounding for the SGD family; for the
#: optimisers that divide by a gradient statistic, rounding in the tiny gradients of saturated units is
#: normalised up to a full step, so their bound is wider (measured in the chapter)
EQUAL = {"sgd": 1e-9, "momentum": 1e-9, "sgd_wd": 1e-9, "adagrad": 1e-5, "rmsprop": 1e-5, "adam": 1e-5,
         "adamw": 1e-5, "adadelta": 1e-5}
DIFFERS = 1e-3  # a control must differ by at least this much (relative), i.e. visibly


@dataclass(frozen=True)
class Hyper:
    """One optimiser's settings for the adaptive network (the base the rules rescale)."""

    lr: float
    momentum: float = 0.0
    eps: float = 0.0
    weight_decay: float = 0.0
    rho: float = 0.9


#: settings used by the chapter and the tests: rates small enough that 20 steps stay well-behaved; the decays
#: are large so that keeping the wrong one shows within 20 steps
DEFAULT_HYPER = {
    "sgd": Hyper(lr=0.02), "momentum": Hyper(lr=0.02, momentum=0.9), "sgd_wd": Hyper(lr=0.02, weight_decay=0.2),
    "adagrad": Hyper(lr=0.01, eps=1e-10), "rmsprop": Hyper(lr=1e-3, eps=1e-8), "adam": Hyper(lr=1e-3, eps=1e-8),
    "adamw": Hyper(lr=1e-3, eps=1e-8, weight_decay=2.0), "adadelta": Hyper(lr=1.0, eps=1e-6, rho=0.9),
}


class AdaDelta2(torch.optim.Optimizer):
    """AdaDelta (Zeiler 2012) with separate ε in the numerator and the denominator.

    s ← ρ s + (1 − ρ) g²;  Δ = √(u + ε_num) / √(s + ε_den) · g;  u ← ρ u + (1 − ρ) Δ²;  θ ← θ − lr·Δ.
    With ε_num = ε_den = ε it is ``torch.optim.Adadelta`` step for step. Rescaling θ′ = a·θ maps
    (ε_num, ε_den) to (a²ε_num, ε_den/a²): the reason no learning rate alone describes AdaDelta there.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps_num: float = 1e-6, eps_den: float = 1e-6):
        super().__init__(params, dict(lr=lr, rho=rho, eps_num=eps_num, eps_den=eps_den))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            rho = group["rho"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                    state["acc_delta"] = torch.zeros_like(p)
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                square_avg.mul_(rho).addcmul_(p.grad, p.grad, value=1 - rho)
                delta = (acc_delta + group["eps_num"]).sqrt() / (square_avg + group["eps_den"]).sqrt() * p.grad
                acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
                p.add_(delta, alpha=-group["lr"])


def derived_settings(optimizer: str, hyper: Hyper, a: float, rule: str = "derived") -> dict:
    """Settings under which the plain layer (W′ = a·W) follows the adaptive layer's optimiser at ``hyper``.

    ``rule="derived"`` gives the exact equivalent (module docstring); the other rules are the
    readings this chapter tests as controls: ``paper`` (rate η·a, everything else kept),
    ``unchanged`` (the base settings: "a cancels"), ``decay_kept`` (derived rate, original decay).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if rule not in RULES:
        raise ValueError(f"unknown rate rule {rule!r}; choose one of {', '.join(RULES)}")
    if not a > 0:
        raise ValueError(f"the slope a must be > 0 for the reparameterisation W′ = a·W, got {a}")
    h = hyper
    if rule == "unchanged":
        return _torch_kwargs(optimizer, h)
    if rule == "paper":
        return _torch_kwargs(optimizer, replace(h, lr=h.lr * a))
    sgd_like = optimizer in ("sgd", "momentum", "sgd_wd")
    if optimizer == "adadelta":
        return dict(lr=h.lr, rho=h.rho, eps_num=h.eps * a * a, eps_den=h.eps / (a * a))
    lr = h.lr * a * a if sgd_like else h.lr * a
    decay = h.weight_decay if rule == "decay_kept" else (
        h.weight_decay / a if optimizer == "adamw" else h.weight_decay / (a * a))
    return _torch_kwargs(optimizer, replace(h, lr=lr, eps=h.eps / a, weight_decay=decay))


def _torch_kwargs(optimizer: str, h: Hyper) -> dict:
    if optimizer in ("sgd", "momentum", "sgd_wd"):
        return dict(lr=h.lr, momentum=h.momentum, weight_decay=h.weight_decay)
    if optimizer == "adadelta":
        return dict(lr=h.lr, rho=h.rho, eps_num=h.eps, eps_den=h.eps)
    kwargs = dict(lr=h.lr, eps=h.eps, weight_decay=h.weight_decay)
    return kwargs if optimizer in ("adam", "adamw", "adagrad") else {**kwargs, "alpha": h.rho}


def _make_optimizer(optimizer: str, groups: list[dict]) -> torch.optim.Optimizer:
    cls = {"sgd": torch.optim.SGD, "momentum": torch.optim.SGD, "sgd_wd": torch.optim.SGD,
           "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam,
           "adamw": torch.optim.AdamW, "adadelta": AdaDelta2}[optimizer]
    return cls(groups)


def adaptive_mlp(f: str, slopes: list[float], sizes: list[int], seed: int, learn_slope: bool = False,
                 batchnorm: bool = False) -> nn.Sequential:
    """Linear → [BatchNorm →] paper B's adaptive f with fixed slope a_l → … → Linear (logits), in float64.

    One slope per hidden layer (``len(sizes) − 2`` of them). The activation is the library's own
    ASigmoid/ATanh/AReLU at its identity (b = 1, c = d = 0; AReLU b = 0), so only a differs from f.
    ``learn_slope`` lets each a learn (b, c, d stay frozen).
    """
    if f not in ADAPTIVE:
        raise ValueError(f"unknown function {f!r}; choose one of {', '.join(ADAPTIVE)}")
    if len(slopes) != len(sizes) - 2:
        raise ValueError(f"{len(sizes) - 2} hidden layers need {len(sizes) - 2} slopes, got {len(slopes)}")
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, a in enumerate(slopes):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if batchnorm:
            layers.append(nn.BatchNorm1d(sizes[i + 1]))
        act = make_activation(ADAPTIVE[f], a=a)
        for name, p in act.named_parameters():
            p.requires_grad_(learn_slope and name == "a")
        layers.append(act)
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers).double()


def _slope(act: nn.Module) -> float:
    return float(act.a.detach())


def plain_twin(net: nn.Sequential, f: str) -> tuple[nn.Sequential, list[tuple[nn.Module, float]]]:
    """The plain network computing the same function: each layer feeding slope a gets W′ = a·W, b′ = a·b.

    With BatchNorm between the layer and f, BN's γ and β are rescaled instead (the layer's W then
    does not matter to the scale). Returns the twin and, per rescaled module, its slope a.
    """
    layers, rescaled = [], []
    modules = list(net)
    for i, m in enumerate(modules):
        nxt = modules[i + 1] if i + 1 < len(modules) else None
        if isinstance(m, nn.Linear | nn.BatchNorm1d):
            twin = _copy(m)
            if nxt is not None and hasattr(nxt, "a"):
                a = _slope(nxt)
                with torch.no_grad():
                    twin.weight.mul_(a)
                    twin.bias.mul_(a)
                rescaled.append((twin, a))
            layers.append(twin)
        elif hasattr(m, "a"):
            layers.append(make_activation(f).double())
        else:
            raise ValueError(f"plain_twin does not know how to copy {type(m).__name__}")
    return nn.Sequential(*layers), rescaled


def _copy(m: nn.Module) -> nn.Module:
    twin = type(m)(*((m.in_features, m.out_features) if isinstance(m, nn.Linear) else (m.num_features,))).double()
    twin.load_state_dict(m.state_dict())
    return twin


def compare_function_space(f: str, a: float, optimizer: str, rule: str, batches: list[tuple[Tensor, Tensor]],
                           steps: int = 20, sizes: list[int] | None = None, seed: int = 0,
                           hyper: Hyper | None = None, batchnorm: bool = False) -> dict:
    """Train the adaptive net (slope ``a`` in every hidden layer, rate η) and its plain twin (``rule``).

    Both see the same batches in the same order, cross-entropy loss. Returns the largest
    |logit difference| over all ``steps`` (logits on the first batch after every step) and the
    logit scale (largest |logit|), so the difference can be read relative to it.
    """
    sizes = sizes or [batches[0][0].shape[1], 32, 32, 10]
    hyper = hyper or DEFAULT_HYPER[optimizer]
    net = adaptive_mlp(f, [a] * (len(sizes) - 2), sizes, seed, batchnorm=batchnorm)
    twin, rescaled = plain_twin(net, f)
    base = derived_settings(optimizer, hyper, 1.0, "unchanged")
    opt_net = _make_optimizer(optimizer, [{"params": [p for p in net.parameters() if p.requires_grad], **base}])
    scaled = {id(m): s for m, s in rescaled}
    groups = [{"params": list(m.parameters()),
               **(derived_settings(optimizer, hyper, scaled[id(m)], rule) if id(m) in scaled else base)}
              for m in twin if any(True for _ in m.parameters())]
    opt_twin = _make_optimizer(optimizer, groups)
    x_eval = batches[0][0]
    worst, scale = 0.0, 0.0
    for k in range(steps):
        x, y = batches[k % len(batches)]
        for model, opt in ((net, opt_net), (twin, opt_twin)):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        with torch.no_grad():
            logits_net, logits_twin = net(x_eval), twin(x_eval)
        worst = max(worst, (logits_net - logits_twin).abs().max().item())
        scale = max(scale, logits_net.abs().max().item())
    if not math.isfinite(worst):
        raise FloatingPointError(f"{optimizer} ({rule}) with a={a} diverged; lower its rate in DEFAULT_HYPER")
    return {"max_abs_logit_diff": worst, "logit_scale": scale}


def expected_outcome(optimizer: str, rule: str, a: float) -> str:
    """``equal`` where the derivation predicts an exact match, ``differs`` for the control readings."""
    if rule == "derived" or a == 1.0:
        return "equal"
    if rule == "decay_kept" and optimizer not in ("sgd_wd", "adamw"):
        return "equal"  # no decay to keep
    return "differs"


def function_space_table(batches: list[tuple[Tensor, Tensor]], functions=("relu", "tanh", "sigmoid"),
                         slopes=(0.5, 3.0), optimizers=OPTIMIZERS, steps: int = 20, seed: int = 0) -> pd.DataFrame:
    """Every optimiser × f × a × rule: the rows of ``function_space.csv``.

    Rules per optimiser: ``derived`` always; the control ``paper`` (η·a) for the SGD family and
    ``unchanged`` for the adaptive ones; ``decay_kept`` where there is a decay to keep.
    """
    rows = []
    for optimizer in optimizers:
        sgd_like = optimizer in ("sgd", "momentum", "sgd_wd")
        rules = ["derived", "paper" if sgd_like else "unchanged"]
        if optimizer in ("sgd_wd", "adamw"):
            rules.append("decay_kept")
        for f in functions:
            for a in slopes:
                for rule in rules:
                    out = compare_function_space(f, a, optimizer, rule, batches, steps=steps, seed=seed)
                    rows.append({"optimizer": optimizer, "f": f, "a": a, "rate_rule": rule, "steps": steps,
                                 **out, "relative_diff": out["max_abs_logit_diff"] / out["logit_scale"],
                                 "expected": expected_outcome(optimizer, rule, a)})
    table = pd.DataFrame(rows)
    table["tolerance"] = [EQUAL[o] if e == "equal" else DIFFERS for o, e in zip(table.optimizer, table.expected)]
    table["as_expected"] = [(r.relative_diff <= r.tolerance) if r.expected == "equal" else (r.relative_diff >= r.tolerance)
                            for r in table.itertuples()]
    return table


def learned_slope_errors(f: str, a: float, lrs: list[float], batches: list[tuple[Tensor, Tensor]],
                         steps: int = 20, sizes: list[int] | None = None, seed: int = 0) -> pd.DataFrame:
    """One discrete SGD trajectory per rate η, with every slope learning, against the preconditioned update.

    At every step, from the current state, the plain twin gives g′ = ∇_{w′}L per layer and the
    preconditioned update predicts w′ − η (a²·g′ + (wᵀg′)·w); the adaptive net then takes its SGD
    step on (W, b, a) and w′ = a·w is compared with the prediction. Returns, per η, the first step's
    error (all rates start from the same state, so error ÷ η² is constant if the error is O(η²)), the
    largest local error over the trajectory (and ÷ η²), and the largest residual after subtracting the
    closed-form term η²·a·(wᵀg′)·g′ (float64 rounding if that term is the whole error).
    """
    sizes = sizes or [batches[0][0].shape[1], 32, 32, 10]
    rows = []
    for lr in lrs:
        net = adaptive_mlp(f, [a] * (len(sizes) - 2), sizes, seed, learn_slope=True)
        opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr)
        worst = residual = first = 0.0
        for k in range(steps):
            x, y = batches[k % len(batches)]
            twin, _ = plain_twin(net, f)
            F.cross_entropy(twin(x), y).backward()
            predicted, closed_form = [], []
            for i, m in enumerate(net):
                if not isinstance(m, nn.Linear):
                    continue
                slope = _slope(net[i + 1]) if i + 1 < len(net) and hasattr(net[i + 1], "a") else None
                w = torch.cat([m.weight.detach().flatten(), m.bias.detach()])
                g = torch.cat([twin[i].weight.grad.flatten(), twin[i].bias.grad])
                if slope is None:
                    predicted.append(w - lr * g)
                    closed_form.append(torch.zeros_like(w))
                else:
                    predicted.append(slope * w - lr * (slope**2 * g + (w @ g) * w))
                    closed_form.append(lr**2 * slope * (w @ g) * g)
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
            j = 0
            for i, m in enumerate(net):
                if not isinstance(m, nn.Linear):
                    continue
                slope = _slope(net[i + 1]) if i + 1 < len(net) and hasattr(net[i + 1], "a") else 1.0
                actual = slope * torch.cat([m.weight.detach().flatten(), m.bias.detach()])
                error = actual - predicted[j]
                worst = max(worst, error.abs().max().item())
                first = max(first, error.abs().max().item()) if k == 0 else first
                residual = max(residual, (error - closed_form[j]).abs().max().item())
                j += 1
        rows.append({"f": f, "a": a, "lr": lr, "steps": steps, "first_step_error": first,
                     "first_step_error_over_lr2": first / lr**2, "max_local_error": worst,
                     "max_local_error_over_lr2": worst / lr**2, "residual_after_closed_form": residual})
    return pd.DataFrame(rows)


def batchnorm_slope_gradients(batches: list[tuple[Tensor, Tensor]], a: float = 2.0, seed: int = 0,
                              sizes: list[int] | None = None, bn_eps: tuple[float, ...] = (1e-12, 1e-5),
                              arelu_b: tuple[float, ...] = (0.0, 0.3)) -> pd.DataFrame:
    """∂L/∂a and ∂L/∂b when BatchNorm follows the next layer: f(z) → Linear → BN → ….

    AReLU, f(z) = max(a·z, b·z) with c = d = 0, is positively homogeneous *jointly* in (a, b):
    f_{λa, λb}(z) = λ·f_{a,b}(z) for λ > 0. The next BN subtracts the batch mean (the Linear's bias with it)
    and divides by the batch sd, so for BN's ε → 0 the loss is invariant under (a, b) → λ(a, b), and Euler's
    identity gives the condition that holds:

        a·∂L/∂a + b·∂L/∂b = 0.

    Only when b = 0 as well (f = a·ReLU) does ∂L/∂a = 0 follow on its own; at b ≠ 0 ∂L/∂a is not 0 (the
    control), and even at b = 0 ∂L/∂b is not 0, so a trained AReLU leaves that case at its first step. BN's
    ε leaves a dependence of relative size about ε/(a²·var). For ATanh and ASigmoid, b·f(a·z), a changes the
    shape, so neither ∂L/∂a nor the joint sum vanishes. One row per f (and per b in ``arelu_b`` for AReLU).
    """
    sizes = sizes or [batches[0][0].shape[1], 32, 32, 10]
    rows = []
    x, y = batches[0]
    cases = [("relu", b) for b in arelu_b] + [(f, 1.0) for f in ADAPTIVE if f != "relu"]
    for f, b in cases:
        row = {"f": f, "a": a, "b": b}
        for eps in bn_eps:
            torch.manual_seed(seed)
            act = make_activation(ADAPTIVE[f], a=a, b=b).double()
            net = nn.Sequential(nn.Linear(sizes[0], sizes[1]), act, nn.Linear(sizes[1], sizes[2]),
                                nn.BatchNorm1d(sizes[2], eps=eps), nn.ReLU(), nn.Linear(sizes[2], sizes[-1])).double()
            F.cross_entropy(net(x), y).backward()
            row[f"dL/da, BN eps={eps:g}"] = act.a.grad.item()
            if eps == bn_eps[0]:
                row[f"dL/db, BN eps={eps:g}"] = act.b.grad.item()
                row[f"a·dL/da + b·dL/db, BN eps={eps:g}"] = a * act.a.grad.item() + b * act.b.grad.item()
        row["max |dL/dW| (scale)"] = net[0].weight.grad.abs().max().item()
        rows.append(row)
    return pd.DataFrame(rows)
