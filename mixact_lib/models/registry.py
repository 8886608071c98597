"""``build_model``: every network of the three papers behind one name lookup.

>>> from mixact_lib.models import build_model
>>> net = build_model("paper_c_convnet", num_classes=10, in_channels=1, activation="adact")
>>> net = build_model("vgg", 100, 3, activation="arelu", width=0.125, depth=11)   # smoke size

Names are lower-cased, ``-`` reads as ``_``, and a few aliases resolve
(``vgg16`` → ``vgg``, ``resnet50`` → ``resnet``). Every model takes the
activation as a registry name (+ ``activation_kwargs``) and builds one
independent module per site; ``activation_per_site`` gives each site its own.
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence

from torch import nn

from .alexnet_vgg import VGG, AlexNet
from .common import as_size
from .googlenet import GoogLeNet
from .paper_nets import PaperANet, PaperCConvNet
from .resnet_densenet import DenseNet, ResNet
from .sites import ActivationSpec

_MODELS: dict[str, type[nn.Module]] = {
    "paper_a_net": PaperANet,  # paper A §2
    "paper_c_convnet": PaperCConvNet,  # paper C appendix A.1
    "alexnet": AlexNet,  # paper B Fig. 5
    "vgg": VGG,
    "googlenet": GoogLeNet,
    "resnet": ResNet,
    "densenet": DenseNet,
}
_ALIASES: dict[str, str] = {
    "paper_a": "paper_a_net",
    "paper_c": "paper_c_convnet",
    "convnet": "paper_c_convnet",
    "vgg16": "vgg",
    "vggnet": "vgg",
    "resnet50": "resnet",
    "inception": "googlenet",
}

#: arguments build_model itself handles; the rest are the model's own
_COMMON = ("num_classes", "in_channels", "activation", "activation_kwargs")


def available_models() -> list[str]:
    """Canonical names of every model, sorted."""
    return sorted(_MODELS)


def canonical_model_name(name: str) -> str:
    """Resolve case, ``-`` and aliases; ValueError with the closest known name if unknown."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, _ALIASES.get(key.replace("_", ""), key))  # "ResNet-50" → "resnet50" → "resnet"
    if key not in _MODELS:
        known = available_models()
        close = difflib.get_close_matches(key, known + list(_ALIASES), n=1)
        hint = f" Did you mean {_ALIASES.get(close[0], close[0])!r}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} Known models: {', '.join(known)}.")
    return key


def model_class(name: str) -> type[nn.Module]:
    return _MODELS[canonical_model_name(name)]


def model_options(name: str) -> dict[str, object]:
    """The model's own keyword arguments and their defaults (``width``, ``depth``, ``channels``, …)."""
    params = inspect.signature(model_class(name).__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self" and k not in _COMMON}


def build_model(
    name: str,
    num_classes: int,
    in_channels: int,
    activation: ActivationSpec = "relu",
    activation_kwargs: dict | None = None,
    image_size: int | Sequence[int] | None = None,
    **kw,
) -> nn.Module:
    """Build model ``name`` for ``num_classes`` classes and ``in_channels``-channel images.

    ``activation`` is a registry name (``"relu"``, ``"arelu"``, ``"adact"``, …) or
    a class/factory; ``activation_kwargs`` go to every site (``per_channel=True``
    gets each site's channel count filled in). ``activation_per_site=[...]``
    (one name per site, in forward order) overrides ``activation``.
    ``image_size`` (H, W) is passed to the models whose classifier size
    depends on it (paper A and C nets; default 28×28); the CIFAR zoo pools
    adaptively and only needs inputs large enough. Other ``kw`` are the
    model's own options (see :func:`model_options`); unknown ones raise
    ValueError naming what the model accepts.

    The arguments are recorded on the model as ``build_config`` (a dict that
    ``build_model(**net.build_config)`` turns back into the same architecture),
    so a results file can store them.
    """
    key = canonical_model_name(name)
    cls = _MODELS[key]
    options = model_options(key)
    unknown = sorted(set(kw) - set(options))
    if unknown:
        accepted = ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "image_size")
        raise ValueError(
            f"model {key!r} got unknown argument(s) {unknown}. It accepts: {accepted} "
            "(plus num_classes, in_channels, activation, activation_kwargs, image_size)."
        )
    if not (isinstance(num_classes, int) and num_classes >= 1):
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if not (isinstance(in_channels, int) and in_channels >= 1):
        raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
    if image_size is not None:
        image_size = as_size(image_size)
        if "image_size" in options:
            kw["image_size"] = image_size
    model = cls(num_classes=num_classes, in_channels=in_channels, activation=activation,
                activation_kwargs=activation_kwargs, **kw)
    config = {"name": key, "num_classes": num_classes, "in_channels": in_channels, "activation": activation,
              "activation_kwargs": activation_kwargs, **kw}
    if image_size is not None:
        config["image_size"] = list(image_size)
    model.build_config = config
    return model


__all__ = ["available_models", "build_model", "canonical_model_name", "model_class", "model_options"]
