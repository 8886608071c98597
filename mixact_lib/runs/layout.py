"""A grid's cells and where they go: lists of values → one :class:`RunConfig` per combination, each with its folder.

A grid maps config fields (or the phase keys ``optimizer``, ``lr``, ``epochs``) to lists of values, and
every combination is one cell. Values that only make sense together (a model and its ``model_kwargs``,
an optimiser and its ``lr``) go in the grid's ``cases``: a list of dicts, each with a ``name``, crossed
with every other key::

    {"cases": [{"name": "resnet", "model": "resnet", "model_kwargs": {"width": 0.125}},
               {"name": "vgg", "model": "vgg", "model_kwargs": {"depth": 11}}],
     "activation": ["relu", "arelu"], "seed": [0, 1, 2]}

A cell's folder under ``root`` is named from its varied values (``case=vgg__activation=relu__seed=0``),
or, when the grid has a ``folder`` entry, from that template: ``"folder": "{case}/seed{seed}"`` puts
each cell in ``<root>/<case name>/seed<k>``. A template's fields are the cell's config fields and grid
keys, ``case`` (its case's name) and ``root``, in Python's format syntax (``{activation_kwargs[norm]}``,
``{lr:g}``). The fields that name another run's folder, ``optimized_from`` and ``init_from``, are
templates of the same kind, so a cell can name the run it needs (:mod:`~.dependencies`)::

    {"name": "optimized", "activation": "optimized", "optimized_from": "{root}/adact/seed{seed}"}
"""
from __future__ import annotations

import dataclasses
import itertools
import re
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .config import RunConfig, paper_phases
from .dependencies import DEPENDENCY_FIELDS, folder_key

#: grid keys that are not RunConfig fields but rebuild the phases of the base paper protocol
PHASE_KEYS = ("optimizer", "lr", "epochs")
#: the grid entry that holds the folder template (not an axis)
FOLDER = "folder"


def _slug(value: Any) -> str:
    if isinstance(value, dict):
        return "-".join(f"{k}={_slug(v)}" for k, v in sorted(value.items())) or "default"
    return str(value).replace("/", "_").replace(" ", "")


def _check_cases(cases: Any) -> list[dict[str, Any]]:
    if not isinstance(cases, (list, tuple)) or not all(isinstance(c, dict) for c in cases):
        raise ValueError("grid 'cases' must be a list of dicts (each: name plus the fields that go together)")
    names = [c.get("name") for c in cases]
    if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
        raise ValueError(f"every grid case needs a unique, non-empty 'name' (it names the folder); got {names}")
    return list(cases)


def expand(grid: dict[str, Iterable]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, as a list of {key: value} dicts (itertools.product order).

    A ``cases`` entry (list of dicts) is one more axis whose value is the whole dict; the ``folder``
    template is not an axis.
    """
    keys = [k for k in grid if k != FOLDER]
    values = [_check_cases(grid[k]) if k == "cases" else list(grid[k]) for k in keys]
    for k, v in zip(keys, values):
        if not v:
            raise ValueError(f"grid key {k!r} has no values")
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def _flatten(point: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A point's fields (its case merged in) and its folder name (the case by name, the rest by value)."""
    fields, parts = {}, []
    for key, value in point.items():
        if key == "cases":
            fields.update({k: v for k, v in value.items() if k != "name"})
            parts.append(f"case={_slug(value['name'])}")
        else:
            fields[key] = value
            parts.append(f"{key}={_slug(value)}")
    clash = set(point) & set(point.get("cases", {}))
    if clash:
        raise ValueError(f"grid keys {sorted(clash)} are set both by a case and as their own axis; use one")
    return fields, "__".join(parts)


def fill(template: str, values: dict[str, Any], what: str) -> str:
    """``template`` with its ``{fields}`` taken from ``values``; a ValueError naming ``what`` otherwise."""
    try:
        names = [re.split(r"[.\[]", field, maxsplit=1)[0]
                 for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as err:
        raise ValueError(f"{what} {template!r} is not a template ({err}); write fields as {{seed}}, {{case}} or "
                         "{activation_kwargs[norm]}, and a literal brace as {{ or }}") from None
    unknown = [n for n in names if n not in values]
    if unknown:
        raise ValueError(f"{what} {template!r} names {{{unknown[0]}}}, which is neither a config field nor a key "
                         f"of this grid; it can use {', '.join(sorted(values))}")
    try:
        return template.format_map(values)
    except (KeyError, IndexError, AttributeError, TypeError, ValueError) as err:
        used = {n: values[n] for n in names}
        raise ValueError(f"{what} {template!r} cannot be filled for the cell with {used}: "
                         f"{type(err).__name__} {err}") from None


def _template_values(fields: dict[str, Any], point: dict[str, Any], root: Path) -> dict[str, Any]:
    """What a cell's templates may use: its config fields, its grid keys, ``case`` and ``root``."""
    flat, _ = _flatten(point)
    values = {k: v for k, v in {**fields, **flat}.items() if k not in ("out", "phases", *DEPENDENCY_FIELDS)}
    values["root"] = str(root)
    if "cases" in point:
        values["case"] = point["cases"]["name"]
    return values


def _relative_folder(template: str, values: dict[str, Any]) -> str:
    text = fill(template, values, "folder template")
    if not text.strip() or Path(text).is_absolute() or ".." in Path(text).parts:
        raise ValueError(f"folder template {template!r} gives {text!r}; it must give a folder inside the grid's "
                         "root, such as 'adact/seed0'")
    return text


def configure(base: RunConfig, point: dict[str, Any], root: Path, folder: str | None = None) -> RunConfig:
    """The config of one grid point: ``base`` with the point's values, its own folder under ``root``
    (named from the varied values, or by the ``folder`` template), its run-folder fields filled in."""
    fields_of_point, name = _flatten(point)
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = set(fields_of_point) - fields - set(PHASE_KEYS)
    if unknown:
        raise ValueError(f"grid keys {sorted(unknown)} are neither config fields ({', '.join(sorted(fields))}) "
                         f"nor phase keys ({', '.join(PHASE_KEYS)})")
    d = {k: v for k, v in dataclasses.asdict(base).items() if k != "phases"}
    d["phases"] = base.phases
    d.update({k: v for k, v in fields_of_point.items() if k in fields})
    if "activation" in fields_of_point and "activation_kwargs" not in fields_of_point:
        d["activation_kwargs"] = {}
    if any(k in fields_of_point for k in (*PHASE_KEYS, "lr_step_at")):
        first = base.phases[0]
        epochs = fields_of_point.get("epochs",
                                     sum(p.epochs for p in base.phases) if base.paper != "a" else first.epochs)
        d["phases"] = paper_phases(base.paper, epochs, fields_of_point.get("optimizer", first.optimizer),
                                   fields_of_point.get("lr", first.lr), first.weight_decay, first.act_lr,
                                   d["lr_step_at"])
    root = Path(root)
    values = _template_values(d, point, root)
    for key in DEPENDENCY_FIELDS:
        if isinstance(d.get(key), str):
            d[key] = fill(d[key], values, f"{key} template")
    d["out"] = str(root / (name if folder is None else _relative_folder(folder, values)))
    return RunConfig(**d)


def grid_cells(base: RunConfig, grid: dict[str, Any], root: str | Path) -> list[RunConfig]:
    """The config of every cell of ``grid`` (:func:`configure` of each point of :func:`expand`), in grid order.

    Two cells with one folder are refused: the ``folder`` template must name every key the cells differ in.
    """
    template = grid.get(FOLDER)
    if template is not None and (not isinstance(template, str) or not template.strip()):
        raise ValueError(f"grid 'folder' must be a template string such as '{{case}}/seed{{seed}}', "
                         f"got {template!r}")
    configs = [configure(base, point, Path(root), folder=template) for point in expand(grid)]
    seen: dict[str, RunConfig] = {}
    for config in configs:
        key = folder_key(config.out)
        if key in seen:
            why = (f"the folder template {template!r} must name every grid key in which cells differ "
                   "(e.g. '{case}/seed{seed}')" if template is not None else "a grid key lists one value twice")
            raise ValueError(f"two grid cells get the folder {config.out}: {why}")
        seen[key] = config
    return configs
