"""The one registry from activation names to classes (after timm's create_act).

Names are lower-cased; aliases resolve to a canonical name; a module instance
passes through unchanged and a class is instantiated with the kwargs.

Two implementations can stand behind a name: the *reference* class (plain
PyTorch, the ground truth) and an optional *fast* subclass with fused
autograd (same parameters and state_dict). ``impl="auto"`` (default) picks
the fast one where it exists; :func:`use_reference` switches the default.
"""
from __future__ import annotations

import contextlib
import difflib
import inspect
from collections.abc import Iterator

from torch import nn

from .fixed import FIXED_ACTIVATIONS, Activation
from .learnable import LEARNABLE_ACTIVATIONS
from .mixture import MIXTURE_ACTIVATIONS

_REFERENCE: dict[str, type[Activation]] = {**FIXED_ACTIVATIONS, **LEARNABLE_ACTIVATIONS, **MIXTURE_ACTIVATIONS}
_FAST: dict[str, type[Activation]] = {}
_ALIASES: dict[str, str] = {}
for _alias, _target in {
    "swish": "silu",
    "leaky_relu": "lrelu",
    "leakyrelu": "lrelu",
    "sine": "sin",
    "logistic": "sigmoid",
    "adaptive_sigmoid": "asigmoid",
    "adaptive_tanh": "atanh",
    "adaptive_relu": "arelu",
}.items():
    _ALIASES.setdefault(_alias, _target)

IMPLS = ("auto", "fast", "reference")
_default_impl = "auto"


def canonical_name(name: str) -> str:
    """Lower-case, resolve aliases, and check the name exists (ValueError with a suggestion if not)."""
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _REFERENCE:
        known = available_activations()
        close = difflib.get_close_matches(key, known + list(_ALIASES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown activation {name!r}.{hint} Known activations: {', '.join(known)}.")
    return key


def available_activations() -> list[str]:
    """Canonical names of every registered activation, sorted."""
    return sorted(_REFERENCE)


def register_fast(name: str, cls: type[Activation]) -> None:
    """Register ``cls`` as the fast implementation of ``name`` (must subclass the reference class)."""
    ref = _REFERENCE[canonical_name(name)]
    if not issubclass(cls, ref):
        raise TypeError(f"fast class {cls.__name__} must subclass the reference {ref.__name__}")
    _FAST[canonical_name(name)] = cls


def has_fast(name: str) -> bool:
    return canonical_name(name) in _FAST


@contextlib.contextmanager
def use_reference(enabled: bool = True) -> Iterator[None]:
    """Within this block, ``make_activation`` builds reference implementations by default."""
    global _default_impl
    previous = _default_impl
    _default_impl = "reference" if enabled else "auto"
    try:
        yield
    finally:
        _default_impl = previous


def activation_class(name: str, impl: str | None = None) -> type[Activation]:
    impl = impl or _default_impl
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; choose one of {', '.join(IMPLS)}")
    key = canonical_name(name)
    if impl == "reference":
        return _REFERENCE[key]
    if impl == "fast" and key not in _FAST:
        raise ValueError(
            f"activation {key!r} has no fast implementation; fast ones: {', '.join(sorted(_FAST)) or 'none'}. "
            "Use impl='auto' to fall back to the reference."
        )
    return _FAST.get(key, _REFERENCE[key])


def _check_kwargs(cls: type, key: str, kwargs: dict) -> None:
    params = inspect.signature(cls.__init__).parameters
    allowed = [p for p in params if p != "self" and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        allowed_text = ", ".join(allowed) if allowed else "none"
        raise ValueError(f"activation {key!r} got unknown argument(s) {unknown}; it accepts: {allowed_text}.")


def make_activation(name: str | nn.Module | type, impl: str | None = None, **kwargs) -> nn.Module:
    """Build a fresh activation module from its registry name.

    ``make_activation("mix", norm="abs")``, ``make_activation("adact")``,
    ``make_activation("arelu", impl="reference")``. A module passes through
    unchanged (kwargs must then be empty); a class is called with ``kwargs``.
    """
    if isinstance(name, nn.Module):
        if kwargs:
            raise ValueError("kwargs given with an already-built activation module; pass a name instead")
        return name
    if isinstance(name, type):
        return name(**kwargs)
    cls = activation_class(name, impl)
    key = canonical_name(name)
    _check_kwargs(cls, key, kwargs)
    try:
        return cls(**kwargs)
    except TypeError as err:  # e.g. a wrong type for a known argument
        raise ValueError(f"could not build activation {key!r} with {kwargs}: {err}") from err
