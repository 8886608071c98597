"""Experiment grids as data: a base config × lists of values → runs → one tidy table.

    table = sweep(paper_config("b", epochs=3), {"activation": ["relu", "arelu"], "seed": [0, 1, 2]},
                  root="results/b-quick")

Each combination gets its own folder under ``root`` (named from the varied
values), so an interrupted sweep resumes: finished runs are read back, a
half-done run continues from its checkpoint.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from .data import load_dataset
from .experiments import RunConfig, paper_config, paper_phases, resolve_device, run
from .results import collect_summaries

#: grid keys that are not RunConfig fields but rebuild the phases of the base paper protocol
PHASE_KEYS = ("optimizer", "lr", "epochs")


def _slug(value: Any) -> str:
    if isinstance(value, dict):
        return "-".join(f"{k}={_slug(v)}" for k, v in sorted(value.items())) or "default"
    return str(value).replace("/", "_").replace(" ", "")


def expand(grid: dict[str, Iterable]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, as a list of {key: value} dicts (itertools.product order)."""
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    for k, v in zip(keys, values):
        if not v:
            raise ValueError(f"grid key {k!r} has no values")
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def configure(base: RunConfig, point: dict[str, Any], root: Path) -> RunConfig:
    """The config of one grid point: ``base`` with the point's values, its own folder under ``root``."""
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = set(point) - fields - set(PHASE_KEYS)
    if unknown:
        raise ValueError(f"grid keys {sorted(unknown)} are neither config fields ({', '.join(sorted(fields))}) "
                         f"nor phase keys ({', '.join(PHASE_KEYS)})")
    d = {k: v for k, v in dataclasses.asdict(base).items() if k != "phases"}
    d["phases"] = base.phases
    d.update({k: v for k, v in point.items() if k in fields})
    if "activation" in point and "activation_kwargs" not in point:
        d["activation_kwargs"] = {}
    if any(k in point for k in PHASE_KEYS):
        first = base.phases[0]
        epochs = point.get("epochs", sum(p.epochs for p in base.phases) if base.paper != "a" else first.epochs)
        d["phases"] = paper_phases(base.paper, epochs, point.get("optimizer", first.optimizer),
                                   point.get("lr", first.lr), first.weight_decay, first.act_lr)
    d["out"] = str(root / "__".join(f"{k}={_slug(v)}" for k, v in point.items()))
    return RunConfig(**d)


def sweep(base: RunConfig, grid: dict[str, Iterable], root: str | Path, *, progress: bool = True,
          reuse_data: bool = True, on_run: Callable[[RunConfig, dict], None] | None = None) -> pd.DataFrame:
    """Run every grid point (skipping finished ones) and return all summaries as one DataFrame.

    ``reuse_data`` loads the dataset once when no grid key changes what is loaded (the
    subset and validation split follow ``data_seed``, not the run seed).
    """
    root = Path(root)
    points = expand(grid)
    configs = [configure(base, p, root) for p in points]
    data_keys = {"dataset", "train_subset", "test_subset", "val_fraction", "pad_to", "data_root", "device",
                 "data_seed"}
    shared = None
    if reuse_data and not set(grid) & data_keys:
        c = configs[0]
        shared = load_dataset(c.dataset, root=c.data_root, train_subset=c.train_subset, test_subset=c.test_subset,
                              val_fraction=c.val_fraction, seed=c.data_seed, device=resolve_device(c.device),
                              pad_to=c.pad_to)
    for config in tqdm(configs, desc=f"sweep {root.name}", disable=not progress):
        result = run(config, progress=False, data=shared)
        if on_run is not None:
            on_run(config, result.summary)
    return collect_summaries(root)


def load_grid(path: str | Path) -> tuple[RunConfig, dict[str, list], Path]:
    """Read a sweep file (YAML): ``paper``, ``base`` overrides, ``grid`` and ``root``."""
    import yaml

    spec = yaml.safe_load(Path(path).read_text()) or {}
    unknown = set(spec) - {"paper", "base", "grid", "root"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; a sweep file has paper, base, grid, root")
    if "grid" not in spec or "root" not in spec:
        raise ValueError(f"{path}: a sweep file needs 'grid' (key → list of values) and 'root' (results folder)")
    base = paper_config(spec.get("paper", "c"), **(spec.get("base") or {}))
    return base, spec["grid"], Path(spec["root"])
