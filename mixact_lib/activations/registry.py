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
import inspect
from collections.abc import Iterator

from torch import nn

from .fixed import Activation
from .mixture import MIXTURE_ACTIVATIONS
from .names import ALIASES, SINGLE_ACTIVATIONS, build, resolve_name

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


# ---------------------------------------------------------------- the table


def _parameter_count(name: str) -> str:
    """Parameters of one site at the defaults, and how the count grows with C channels or G groups."""
    cls = _REFERENCE[name]
    count = lambda **kw: sum(p.numel() for p in build(cls, name, kw).parameters())  # noqa: E731
    accepts = inspect.signature(cls.__init__).parameters
    base = count()
    if "num_parameters" in accepts:
        per, fixed = count(num_parameters=2) - base, 2 * base - count(num_parameters=2)
        return f"{base} ({_linear(fixed, per, 'C')} per channel)"
    if "per_channel" in accepts:
        one, two = count(per_channel=True, num_channels=1), count(per_channel=True, num_channels=2)
        return f"{base} ({_linear(one - (two - one), two - one, 'C')} per channel)"
    if "groups" in accepts:
        one, two = count(groups=1), count(groups=2)
        return f"{base} ({_linear(one - (two - one), two - one, 'G')} with G groups)"
    return str(base)


def _linear(fixed: int, per: int, symbol: str) -> str:
    term = symbol if per == 1 else f"{per}·{symbol}"
    return f"{term} + {fixed}" if fixed else term


def registry_table() -> list[dict[str, str]]:
    """One row per registered activation: name, family, parameters per site, source, fused on CPU/GPU.

    *fused on CPU*: a fused autograd Function with a native C++ kernel (:mod:`.fast_native`), the CPU
    default. *fused on GPU*: the same fused Function, whose pure torch functions ``torch.compile`` turns
    into one kernel each way on CUDA (backend ``auto``; the native kernels are CPU-only). Fixed activations
    run torch's own kernels on both. Aliases (``names.ALIASES``) are listed with their target.
    """
    from .fast_native import ACTIVATIONS as NATIVE

    aliases: dict[str, list[str]] = {}
    for alias, target in sorted(ALIASES.items()):
        aliases.setdefault(target, []).append(alias)
    rows = []
    for name in available_activations():
        cls = _REFERENCE[name]
        rows.append({
            "name": name + (f" ({', '.join(aliases[name])})" if name in aliases else ""),
            "family": cls.family or "–",
            "parameters per site": _parameter_count(name),
            "source": cls.source or "–",
            "fused on CPU": "yes" if name in _FAST and name in NATIVE else "no",
            "fused on GPU": "yes (compile)" if name in _FAST else "no",
        })
    return rows


def registry_markdown() -> str:
    """:func:`registry_table` as a Markdown table (README.md and book/intro.md show it; a test compares)."""
    rows = registry_table()
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(row[k] for k in head) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_registry_table(path) -> bool:
    """Replace the ``<!-- registry-table -->`` … ``<!-- /registry-table -->`` block of a Markdown file with
    :func:`registry_markdown`; True if the file changed. (README.md and book/intro.md hold one each.)"""
    import re
    from pathlib import Path

    path = Path(path)
    text = path.read_text()
    pattern = re.compile(r"(<!-- registry-table -->\n).*?(<!-- /registry-table -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no <!-- registry-table --> … <!-- /registry-table --> block to fill")
    new = pattern.sub(lambda m: m.group(1) + registry_markdown() + m.group(2), text)
    if new != text:
        path.write_text(new)
    return new != text
