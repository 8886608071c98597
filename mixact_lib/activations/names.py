"""Activation names: lower-casing, aliases, and building a reference class from a name and kwargs.

Shared by :mod:`~mixact_lib.activations.registry` (every activation) and
:mod:`~mixact_lib.activations.mixture` (which builds its members by name), so that the imports run
one way: ``mixture → names`` and ``registry → mixture, names``. This module knows the single
activations itself (:data:`SINGLE_ACTIVATIONS`); the mixtures' classes are passed in as the
``known`` table by whoever holds them.
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping

from .fixed import FIXED_ACTIVATIONS, Activation
from .learnable import LEARNABLE_ACTIVATIONS
from .rational import RATIONAL_ACTIVATIONS

#: every activation that is not a mixture, by canonical name: the classes a mixture's members come from
SINGLE_ACTIVATIONS: dict[str, type[Activation]] = {**FIXED_ACTIVATIONS, **LEARNABLE_ACTIVATIONS,
                                                   **RATIONAL_ACTIVATIONS}

ALIASES: dict[str, str] = {
    "swish": "silu",
    "leaky_relu": "lrelu",
    "leakyrelu": "lrelu",
    "sine": "sin",
    "logistic": "sigmoid",
    "adaptive_sigmoid": "asigmoid",
    "adaptive_tanh": "atanh",
    "adaptive_relu": "arelu",
    "aconc": "acon_c",  # "acon-c" needs no alias: "-" reads as "_"
    "rational": "pau",
    "pade": "pau",
    "safe_pau": "pau",
    "group_rational": "kat_rational",
    "kat": "kat_rational",
    "kat_group": "kat_rational",  # the class name in KAT's code
}


def resolve_name(name: str, known: Mapping[str, type]) -> str:
    """Lower-case, resolve aliases, and check the name is in ``known`` (ValueError with a suggestion if not)."""
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in known:
        names = sorted(known)
        close = difflib.get_close_matches(key, names + list(ALIASES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown activation {name!r}.{hint} Known activations: {', '.join(names)}.")
    return key


def check_kwargs(cls: type, key: str, kwargs: dict) -> None:
    """ValueError naming the arguments ``cls`` (registered as ``key``) accepts, if ``kwargs`` has others."""
    params = inspect.signature(cls.__init__).parameters
    allowed = [p for p in params if p != "self" and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        allowed_text = ", ".join(allowed) if allowed else "none"
        raise ValueError(f"activation {key!r} got unknown argument(s) {unknown}; it accepts: {allowed_text}.")


def build(cls: type[Activation], key: str, kwargs: dict) -> Activation:
    """``cls(**kwargs)``, with the arguments checked first and a wrong-typed one reported as ValueError."""
    check_kwargs(cls, key, kwargs)
    try:
        return cls(**kwargs)
    except TypeError as err:  # e.g. a wrong type for a known argument
        raise ValueError(f"could not build activation {key!r} with {kwargs}: {err}") from err
