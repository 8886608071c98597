"""A chapter's parameters as a reader passes them: text from papermill's ``-p``, turned into typed values.

papermill's ``-p NAME VALUE`` hands a notebook ``None``, ``True``/``False``, an int, a float or
else the raw string, so ``-p seeds "[0, 1, 2]"`` arrives as the text ``"[0, 1, 2]"``. Each
chapter's ``parameters`` cell declares a type per parameter as a string annotation
(``seeds: "list[int]" = [0]``; strings, so that ``papermill --help-notebook`` shows them and the
cell needs no ``typing`` import), and its setup cell calls :func:`chapter_parameters`, which
converts every value to its declared type or stops with one line naming the parameter and an
example. :func:`results_folder` then gives the chapter a results folder of its own per set of
parameters, so a re-run with other values never meets the runs of the book's build.

Types understood: ``int``, ``float``, ``str``, ``bool``, ``dict``, ``list[T]`` and
``Optional[T]`` (also written ``T | None``). A list may be given as JSON or a Python literal
(``"[0, 1, 2]"``, ``'["abs"]'``), as comma-separated items (``"0,1,2"``, ``"abs,square"``) or as
one bare item (``-p seeds 3`` means ``[3]``).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path
from typing import Any

#: where derived results folders go, relative to the chapter's working directory (book/)
DEFAULT_RESULTS_BASE = "../_build/results"
#: parameters that do not change a chapter's results: left out of the folder's key
NOT_IN_KEY = frozenset({"results_dir", "device", "profile"})
_EXAMPLES = {"int": "15", "float": "0.001", "str": "text", "bool": "True", "dict": "'{\"channels\": [16, 32]}'"}
_LIST_EXAMPLES = {"int": ('"[0, 1, 2]"', "0,1,2"), "float": ('"[0.5, 1.0]"', "0.5,1.0"),
                  "str": ("'[\"relu\", \"adact\"]'", "relu,adact"), "bool": ('"[True, False]"', "True,False")}


class ParameterError(ValueError):
    """A chapter parameter that cannot be read as its declared type (shown as one line in a notebook)."""

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return [f"ParameterError: {self}"]


def _parse_type(text: str) -> tuple:
    """``"Optional[list[int]]"`` → ``("optional", ("list", ("int",)))``."""
    text = text.strip().replace(" ", "")
    if text.endswith("|None") or text.startswith("None|"):
        inner = text[:-5] if text.endswith("|None") else text[5:]
        return ("optional", _parse_type(inner))
    for outer in ("Optional", "list", "List"):
        if text.startswith(outer + "[") and text.endswith("]"):
            kind = "optional" if outer == "Optional" else "list"
            return (kind, _parse_type(text[len(outer) + 1:-1]))
    if text in ("Dict", "dict") or text.startswith(("dict[", "Dict[")):
        return ("dict",)
    if text in ("int", "float", "str", "bool"):
        return (text,)
    raise ValueError(f"unsupported parameter type {text!r}; use int, float, str, bool, dict, list[T] or Optional[T]")


def _type_name(kind: tuple) -> str:
    if kind[0] == "optional":
        return f"{_type_name(kind[1])} or None"
    if kind[0] == "list":
        return f"a list of {kind[1][0]}" if len(kind[1]) == 1 else f"a list of ({_type_name(kind[1])})"
    return {"dict": "a dict", "int": "an int", "float": "a float", "str": "a string", "bool": "True or False"}[kind[0]]


def _example(name: str, kind: tuple) -> str:
    if kind[0] == "optional":
        return f"{_example(name, kind[1])} or -p {name} None"
    if kind[0] == "list":
        literal, commas = _LIST_EXAMPLES.get(kind[1][0], ('"[...]"', "a,b"))
        return f"-p {name} {literal} or -p {name} {commas}"
    return f"-p {name} {_EXAMPLES[kind[0]]}"


def _literal(text: str) -> Any:
    """JSON first (``null``, ``true``), then a Python literal (``None``, ``(0, 1)``, single quotes)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return ast.literal_eval(text)


def _convert(value: Any, kind: tuple) -> Any:
    """``value`` as ``kind``; raises ``TypeError``/``ValueError``/``SyntaxError`` when it cannot be."""
    tag = kind[0]
    if tag == "optional":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            return None
        return _convert(value, kind[1])
    if tag == "list":
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                raise TypeError("not a list")
            if text.startswith(("[", "(")):
                value = _literal(text)
                if not isinstance(value, (list, tuple)):
                    raise TypeError("not a list")
            else:
                value = [item.strip() for item in text.split(",") if item.strip()]
        elif not isinstance(value, (list, tuple)):
            value = [value]  # one bare item: -p seeds 3
        return [_convert(item, kind[1]) for item in value]
    if tag == "dict":
        if isinstance(value, str):
            value = _literal(value.strip())
        if not isinstance(value, dict):
            raise TypeError("not a dict")
        return dict(value)
    if tag == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError("not True or False")
    if tag == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise TypeError("not an integer")
        return int(value.strip()) if isinstance(value, str) else int(value)
    if tag == "float":
        if isinstance(value, bool):
            raise TypeError("not a number")
        return float(value.strip()) if isinstance(value, str) else float(value)
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]  # a quoted item of a comma-separated list: "abs",'square'
    return str(value)


def parse_parameter(name: str, value: Any, declared: str | type) -> Any:
    """``value`` (as papermill passed it, often text) converted to the ``declared`` type.

    >>> parse_parameter("seeds", "[0, 1, 2]", "list[int]")
    [0, 1, 2]
    >>> parse_parameter("norms", "abs,square", "list[str]")
    ['abs', 'square']

    Raises :class:`ParameterError` naming the parameter, what it must be and an example.
    """
    kind = _parse_type(declared if isinstance(declared, str) else getattr(declared, "__name__", str(declared)))
    try:
        return _convert(value, kind)
    except (TypeError, ValueError, SyntaxError, MemoryError, RecursionError) as err:
        raise ParameterError(f"parameter {name!r} must be {_type_name(kind)}, got {value!r} ({err}); "
                             f"for example {_example(name, kind)}") from None


def chapter_parameters(namespace: dict[str, Any]) -> dict[str, Any]:
    """Convert, in place, every annotated parameter of a notebook's namespace to its declared type.

    Call it as ``params = mx.chapter_parameters(globals())`` in the cell after the ``parameters``
    cell: the annotations (``__annotations__``) come from that cell, the values from it or from
    papermill's injected cell. Returns ``{name: value}`` in the order the cell declares them.
    """
    annotations = namespace.get("__annotations__") or {}
    if not annotations:
        raise ParameterError("no annotated parameters found: the parameters cell declares each one as "
                             'name: "type" = value, e.g. seeds: "list[int]" = [0]')
    params = {}
    for name, declared in annotations.items():
        if name not in namespace:
            continue
        params[name] = namespace[name] = parse_parameter(name, namespace[name], declared)
    return params


def parameters_key(params: dict[str, Any]) -> str:
    """A short stable name for a set of parameters: the first 10 hex digits of their SHA-256.

    Parameters that do not change results (:data:`NOT_IN_KEY`) are left out, so the same
    chapter on another device or under another profile name finds the same runs.
    """
    kept = {k: v for k, v in params.items() if k not in NOT_IN_KEY}
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def results_folder(params: dict[str, Any], chapter: str, folder: str | os.PathLike | None = None,
                   base: str | os.PathLike | None = None) -> Path:
    """The folder a chapter writes its runs, CSVs and figures to; created, with ``parameters.json``.

    ``folder`` given: that folder, as the reader chose it. Otherwise
    ``<base>/<profile>/<chapter>/<key>``, with ``key`` from :func:`parameters_key`, so every set
    of parameters gets a folder of its own and a re-run with other values never meets the book
    build's runs. ``base`` defaults to ``$MIXACT_RESULTS_DIR``, else ``../_build/results``
    (relative to ``book/``, where chapters run).
    """
    if folder is not None:
        out = Path(folder)
    else:
        base = base if base is not None else os.environ.get("MIXACT_RESULTS_DIR") or DEFAULT_RESULTS_BASE
        out = Path(base) / str(params.get("profile", "quick")) / chapter / parameters_key(params)
    out.mkdir(parents=True, exist_ok=True)
    (out / "parameters.json").write_text(json.dumps(params, indent=2, default=str) + "\n")
    return out
