"""Activation sites: where a model applies its nonlinearity.

Every model in :mod:`mixact_lib.models` builds its activations here and nowhere
else, so that one registry name (``"relu"``, ``"arelu"``, ``"adact"``) turns into
an *independent* module at each site: paper A learns one mixture per layer
(§2, "for each layer we define a set of unique parameters"), paper B one
(a, b, c, d) per layer (§3), paper C one AdAct per layer (§2).

- :func:`make_site` builds one site; :class:`SiteMaker` hands them out in
  forward order, optionally a different activation per site;
- :func:`list_sites` lists them back, :func:`count_parameters` counts them;
- :func:`optimized_from` is paper C's ConvNet-Optimized (appendix A.1).

Our models register their sites in the order the forward pass meets them, so
site *i* of ``list_sites(model)`` is entry *i* of ``activation_per_site``.
"""
from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Union

import torch
from torch import nn

from mixact_lib.activations import Mix, activation_parameters, activation_sites, fixed_from, make_activation
from mixact_lib.activations.registry import activation_class
from mixact_lib.activations.surgery import is_activation

#: what an activation may be given as: a registry name, a class or zero-argument factory,
#: or (in ``activation_per_site`` only) a dict ``{"name": ..., **kwargs}``
ActivationSpec = Union[str, Callable[..., nn.Module], dict]


def _accepts(name: str, arg: str) -> bool:
    return arg in inspect.signature(activation_class(name).__init__).parameters


def make_site(
    activation: ActivationSpec = "relu",
    activation_kwargs: dict | None = None,
    num_channels: int | None = None,
) -> nn.Module:
    """One fresh activation module for a site with ``num_channels`` channels (dim 1).

    ``activation_kwargs`` go to the registry (``make_activation``). With
    ``per_channel=True`` the site's channel count is filled in as
    ``num_channels`` (``mix``, ``adact``), or as ``num_parameters`` for the
    activations that count channels that way (``prelu``, ``frelu``).
    """
    kwargs = dict(activation_kwargs or {})
    if isinstance(activation, dict):
        spec = dict(activation)
        if "name" not in spec:
            raise ValueError(f"an activation given as a dict needs a 'name' key, got {activation!r}")
        activation = spec.pop("name")
        kwargs = {**kwargs, **spec}
    if isinstance(activation, nn.Module):
        raise ValueError(
            f"got an activation module instance ({type(activation).__name__}); one instance would be shared "
            "by every site. Pass a registry name (e.g. 'arelu') or a class/factory that builds a fresh module."
        )
    if kwargs.get("per_channel"):
        if num_channels is None:
            raise ValueError("per_channel=True needs the site's channel count; this site gave none")
        if isinstance(activation, str) and not _accepts(activation, "per_channel") and _accepts(
            activation, "num_parameters"
        ):
            del kwargs["per_channel"]
            kwargs["num_parameters"] = num_channels
        else:
            kwargs.setdefault("num_channels", num_channels)
    if isinstance(activation, (str, type)):
        return make_activation(activation, **kwargs)
    if callable(activation):
        module = activation(**kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(f"activation factory {activation!r} returned {type(module).__name__}, not an nn.Module")
        return module
    raise TypeError(f"activation must be a registry name, a class or a factory, got {type(activation).__name__}")


class SiteMaker:
    """Hands out one fresh activation per call, in forward order.

    ``SiteMaker("adact")`` gives every site an AdAct; with
    ``activation_per_site=["lrelu", "elu", "mish", "mish"]`` site *i* gets entry
    *i* (``activation`` is then ignored; ``activation_kwargs`` still apply to
    every site, so leave them empty for a list of different names). Call
    :meth:`finish` once the model is built: it checks the list length.
    """

    def __init__(
        self,
        activation: ActivationSpec = "relu",
        activation_kwargs: dict | None = None,
        activation_per_site: Sequence[ActivationSpec] | None = None,
        model: str = "model",
    ):
        if isinstance(activation_per_site, str):
            raise ValueError(
                f"activation_per_site must be a list of names, one per site, got the string {activation_per_site!r}"
            )
        self.activation = activation
        self.activation_kwargs = dict(activation_kwargs or {})
        self.per_site = list(activation_per_site) if activation_per_site is not None else None
        self.model = model
        self.count = 0

    def __call__(self, num_channels: int | None = None) -> nn.Module:
        index, self.count = self.count, self.count + 1
        if self.per_site is None:
            return make_site(self.activation, self.activation_kwargs, num_channels)
        if index >= len(self.per_site):  # too short: finish() reports the real site count
            return nn.Identity()
        return make_site(self.per_site[index], self.activation_kwargs, num_channels)

    def finish(self) -> None:
        if self.per_site is not None and len(self.per_site) != self.count:
            raise ValueError(
                f"{self.model} has {self.count} activation sites but activation_per_site lists "
                f"{len(self.per_site)}: {self.per_site}. Give exactly one name per site, in forward order."
            )


def list_sites(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(module path, activation) of every activation site, in forward order for our models."""
    return activation_sites(model)


def site_name(module: nn.Module) -> str:
    """Registry name of an activation module (``'adact'``, ``'lrelu'``), for results files."""
    return getattr(module, "name", type(module).__name__.lower())


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable-parameter counts: ``total``, ``activation`` (mixture weights, a/b/c/d, slopes), ``network``.

    Paper C §2 counts 8 per AdAct unit (7 weights + PReLU's slope), so its
    4-site ConvNet-AdAct has ``activation == 32``.
    """
    total = sum(p.numel() for p in model.parameters())
    act = sum(p.numel() for p in activation_parameters(model))
    return {"total": total, "activation": act, "network": total - act}


def _fresh_activation(module: nn.Module) -> nn.Module:
    """A copy of an activation site as it was before training (same class, shapes and fixed settings)."""
    if isinstance(module, Mix):
        return fixed_from(module)  # the dominant member, from its own init
    fresh = copy.deepcopy(module)
    if any(True for _ in fresh.parameters()):
        # the class's default init, broadcast to this site's shapes (e.g. per-channel PReLU slopes)
        try:
            defaults = dict(type(module)().named_parameters())
        except TypeError as err:
            raise ValueError(
                f"cannot reset the activation {type(module).__name__}: its class needs constructor arguments ({err})"
            ) from err
        with torch.no_grad():
            for name, p in fresh.named_parameters():
                p.copy_(defaults[name].expand_as(p))
    return fresh


def optimized_from(model: nn.Module) -> nn.Module:
    """Paper C's ConvNet-Optimized (appendix A.1): each mixture replaced by its dominant member.

    Returns a deep copy of ``model`` in which every ``Mix``/``AdAct`` site holds
    a *fresh* module of its dominant member (largest softmax weight, averaged
    over channels when per-channel), every other learnable activation is reset
    to its class's default init, and every network weight is re-initialised
    (``reset_parameters`` of each layer, BatchNorm statistics included, then
    the model's own ``init_weights()`` if it has one): paper C trains
    ConvNet-Optimized from scratch, it does not fine-tune.

    The choice is recorded on the returned model as
    ``chosen_activations = {site path: name}`` in forward order, for every site
    (mixtures and fixed ones alike). ``list(chosen_activations.values())`` is the
    ``activation_per_site`` list that rebuilds the same network with
    ``build_model`` without the trained one (its ``build_config`` is updated
    to say so). Raises ValueError when the model has no mixture to choose from.
    """
    sites = list_sites(model)
    if not any(isinstance(m, Mix) for _, m in sites):
        names = sorted({site_name(m) for _, m in sites}) or ["none"]
        raise ValueError(
            f"optimized_from needs a model with mixture activations (mix or adact); its sites are {names}"
        )
    net = copy.deepcopy(model)
    chosen: dict[str, str] = {}
    for path, site in list_sites(net):
        fresh = _fresh_activation(site)
        parent_path, _, attr = path.rpartition(".")
        parent = net.get_submodule(parent_path) if parent_path else net
        setattr(parent, attr, fresh)
        chosen[path] = site_name(fresh)
    for module in net.modules():
        if not is_activation(module) and hasattr(module, "reset_parameters"):
            module.reset_parameters()  # conv/linear weights, BN affine and running statistics
    if hasattr(net, "init_weights"):
        net.init_weights()
    net.chosen_activations = chosen
    config: dict[str, Any] | None = getattr(model, "build_config", None)
    if config is not None:
        net.build_config = {
            **config,
            "activation_kwargs": None,
            "activation_per_site": list(chosen.values()),
        }
    return net


__all__ = [
    "ActivationSpec",
    "SiteMaker",
    "count_parameters",
    "list_sites",
    "make_site",
    "optimized_from",
    "site_name",
]
