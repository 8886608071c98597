"""The one registry from activation names to classes (after timm's create_act).

Names are lower-cased; aliases resolve to a canonical name; a module instance
passes through unchanged and a class is instantiated with the kwargs.

Two implementations can stand behind a name: the *reference* class (plain
PyTorch, the ground truth) and an optional *fast* subclass with fused
autograd (same parameters and state_dict). ``impl="auto"`` (default) picks
the fast one where it exists; :func:`use_reference` switches the default.
Name resolution and aliases live in :mod:`~mixact_lib.activations.names`, which the mixtures use
too to build their members.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

from .fixed import Activation
from .mixture import MIXTURE_ACTIVATIONS
from .names import SINGLE_ACTIVATIONS, build, resolve_name

_REFERENCE: dict[str, type[Activation]] = {**SINGLE_ACTIVATIONS, **MIXTURE_ACTIVATIONS}
_FAST: dict[str, type[Activation]] = {}

IMPLS = ("auto", "fast", "reference")
_default_impl = "auto"


def canonical_name(name: str) -> str:
    """Lower-case, resolve aliases, and check the name exists (ValueError with a suggestion if not)."""
    return resolve_name(name, _REFERENCE)


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
    return build(cls, canonical_name(name), kwargs)
