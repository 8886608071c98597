"""Working with activations inside whole models.

- split a model's parameters into activation and network sets (own optimiser
  group, no weight decay, freeze one side: paper A's three cycles);
- turn a trained mixture into its dominant fixed activation (paper C's
  "ConvNet-Optimized", appendix A.1);
- swap the activations of any existing model (e.g. a torchvision ResNet).
"""
from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from .fixed import Activation
from .mixture import Mix
from .registry import make_activation

#: torch's own activations with learnable parameters count as activation parameters too
_TORCH_LEARNABLE = (nn.PReLU,)


def is_activation(module: nn.Module) -> bool:
    return isinstance(module, (Activation, _TORCH_LEARNABLE))


def activation_sites(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every mixact activation in ``model``, outermost only."""
    sites = []
    skip_prefixes: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(p) for p in skip_prefixes):
            continue
        if is_activation(module):
            sites.append((name, module))
            skip_prefixes.append(name + ".")
    return sites


def activation_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters that belong to activation modules (mixture weights, a/b/c/d, slopes)."""
    seen: dict[int, nn.Parameter] = {}
    for _, module in activation_sites(model):
        for p in module.parameters():
            seen.setdefault(id(p), p)
    return list(seen.values())


def network_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every other parameter of ``model`` (convolutions, linear layers, norms); disjoint from the above."""
    act_ids = {id(p) for p in activation_parameters(model)}
    return [p for p in model.parameters() if id(p) not in act_ids]


def describe_activations(model: nn.Module) -> dict[str, dict]:
    """``describe()`` of every learnable activation site, keyed by its module path."""
    out = {}
    for name, module in activation_sites(model):
        if isinstance(module, Activation):
            values = module.describe()
            if values:
                out[name] = values
    return out


def dominant(module: Mix) -> str:
    """Name of the member with the largest (channel-averaged) mixture weight."""
    if not isinstance(module, Mix):
        raise TypeError(f"dominant() needs a mixture (mix or adact), got {type(module).__name__}")
    p = module.mean_weights()
    return module.member_names[int(p.argmax())]


def fixed_from(mixture: Mix, copy_params: bool = False) -> nn.Module:
    """A fresh single activation of the mixture's dominant member.

    With ``copy_params`` a learnable dominant member (e.g. PReLU) keeps its
    learned values; by default it starts from its own init, as a network that
    is trained from scratch with the chosen activations (paper C) expects.
    """
    name = dominant(mixture)
    member = mixture.members[name]
    fresh = make_activation(type(member))
    for attr in ("negative_slope", "alpha", "lower", "upper"):
        if hasattr(member, attr):
            setattr(fresh, attr, getattr(member, attr))
    if copy_params:
        fresh.load_state_dict(member.state_dict())
    return fresh


def freeze(model: nn.Module, copy_params: bool = False) -> dict[str, str]:
    """Replace every mixture in ``model`` (in place) by its dominant activation.

    Returns {module path: chosen member name}. A bare mixture cannot be replaced
    in place: use :func:`fixed_from` for that.
    """
    if isinstance(model, Mix):
        raise TypeError("freeze() replaces mixtures inside a model; for a lone mixture use fixed_from(mixture)")
    chosen = {}
    for path, module in list(model.named_modules()):
        if isinstance(module, Mix):
            parent_path, _, attr = path.rpartition(".")
            parent = model.get_submodule(parent_path) if parent_path else model
            chosen[path] = dominant(module)
            setattr(parent, attr, fixed_from(module, copy_params=copy_params))
    return chosen


def swap_activations(
    model: nn.Module,
    name: str,
    types: type | tuple[type, ...] = (nn.ReLU,),
    **kwargs,
) -> int:
    """Replace every module of ``types`` inside ``model`` by a fresh ``make_activation(name, **kwargs)``.

    Each replaced attribute gets its own, independent module. Returns the number
    replaced. Note: a model that calls one module object at several places (as
    torchvision's ResNet blocks call ``self.relu`` twice) shares that module's
    parameters between those call sites, exactly as it shared the original.
    """
    if isinstance(types, Iterable) and not isinstance(types, type):
        types = tuple(types)
    count = 0
    for parent in list(model.modules()):
        for attr, child in list(parent.named_children()):
            if isinstance(child, types) and not isinstance(child, Activation):
                setattr(parent, attr, make_activation(name, **kwargs))
                count += 1
    return count
