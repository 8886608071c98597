"""Experiment grids as data: a base config × lists of values → runs → one tidy table.

    table = sweep(paper_config("b", epochs=3), {"activation": ["relu", "arelu"], "seed": [0, 1, 2]},
                  root="results/b-quick")

A grid's cells, their ``cases`` and their folders (named from the varied values, or by a ``folder``
template such as ``"{case}/seed{seed}"``) are :mod:`~.layout`'s; a cell that needs another cell's run
(``optimized_from: "{root}/adact/seed{seed}"``) runs after it (:mod:`~.dependencies`). Each cell has its
own folder, so an interrupted sweep resumes: finished runs are read back, a half-done run continues from
its checkpoint.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .executors import EXECUTORS, ClusterOptions, GridProgress, pending_cells, run_local, run_ray, run_slurm
from ..data import Dataset, load_dataset
from .config import RunConfig, paper_config
from .dependencies import check_dependencies, folder_key
from .folders import collect_summaries
from .layout import FOLDER, grid_cells
from ..training.records import read_json


def _load(config: RunConfig, device: str) -> Dataset:
    """The data of one grid point on ``device`` (a module-level name, so tests can put other data in)."""
    return load_dataset(config.dataset, root=config.data_root, train_subset=config.train_subset,
                        test_subset=config.test_subset, val_fraction=config.val_fraction,
                        seed=config.data_seed, device=device, pad_to=config.pad_to)


class SweepFailed(ValueError):
    """Some cells of a sweep failed (the others ran): ``failures`` holds each one's folder and error.

    A ValueError, as the first failure used to be raised itself, so callers that caught that still do.
    """

    def __init__(self, failures: list[dict], table: pd.DataFrame, total: int) -> None:
        self.failures, self.table = failures, table
        report = "\n".join(f"{f['folder']}:\n" + "\n".join("    " + line for line in f["error"].splitlines())
                           for f in failures)
        super().__init__(f"{len(failures)} of {total} grid cells failed (the others ran):\n{report}")


def sweep(base: RunConfig, grid: dict[str, Any], root: str | Path, *, progress: bool = True,
          reuse_data: bool = True, on_run: Callable[[RunConfig, dict], None] | None = None,
          executor: str = "local", cluster: ClusterOptions | dict | None = None) -> pd.DataFrame:
    """Run every grid point (skipping finished ones) and return all summaries as one DataFrame.

    ``executor``: ``local`` runs the points one after another in this process; ``ray`` makes each
    a Ray task and ``slurm`` a job of one SLURM array (see :mod:`~mixact_lib.runs.executors`, and
    :class:`~mixact_lib.runs.executors.ClusterOptions` for ``cluster``: address, workers, CPUs and GPUs
    per run, partition, time). Each point claims its folder first (:mod:`~mixact_lib.runs.locks`), so
    two sweeps, on one machine or many, never train the same point; one held by another live task
    is skipped and listed in ``table.attrs["claimed_elsewhere"]``.

    ``reuse_data`` loads a dataset once for all the points that use it. Every point's config, and
    that every run a point needs is there or in the grid (:mod:`~.dependencies`), is checked before
    the first one trains. A point that fails does not stop the others (only those that need its run);
    after all have run, :class:`SweepFailed` names each failed folder with its error's last lines. With the
    ``local`` executor a failed point, like any failed :func:`run`, leaves no half-made folder; the
    cluster executors leave its ``failed.json`` there for ``sweep --status`` (:mod:`~mixact_lib.runs.cells`).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    options = cluster if isinstance(cluster, ClusterOptions) else ClusterOptions.from_dict(cluster)
    root = Path(root)
    configs = grid_cells(base, grid, root)
    pending = list(pending_cells(configs))
    check_dependencies(pending, options.claim_ttl)

    def report(outcome: dict) -> None:
        if on_run is not None and "summary" in outcome:
            on_run(by_folder[outcome["folder"]], outcome["summary"])

    by_folder = {c.out: c for c in configs}
    bar = GridProgress(len(configs), len(configs) - len(pending), f"sweep {root.name} ({executor})", progress,
                       on_outcome=report)
    try:
        if on_run is not None:
            waiting = {c.out for c in pending}
            for config in configs:
                if config.out not in waiting:
                    on_run(config, read_json(Path(config.out) / "summary.json"))
        if executor == "local":
            run_local(pending, options, bar, _load, reuse_data=reuse_data)
        elif executor == "ray":
            run_ray(pending, options, bar, _load)
        else:
            run_slurm(pending, options, bar, root)
    finally:
        bar.close()
    table = collect_summaries(root)
    if len(table):  # another grid may share the root (paper C's baselines beside Table 1's networks)
        table = table[[folder_key(f) in {folder_key(c.out) for c in configs} for f in table.folder]]
        table = table.reset_index(drop=True)
    table.attrs["claimed_elsewhere"] = [o["folder"] for o in bar.outcomes if o["status"] == "claimed"]
    failures = [o for o in bar.outcomes if o["status"] == "failed"]
    if failures:
        raise SweepFailed(failures, table, len(configs))
    return table


def grid_configs(path: str | Path, root: str | Path | None = None) -> tuple[list[RunConfig], Path]:
    """Every cell's config of a sweep file (``root`` overrides the file's), and the root folder."""
    base, grid, file_root = load_grid(path)
    root = Path(root) if root is not None else file_root
    return grid_cells(base, grid, root), root


#: ``paper_config`` arguments that a sweep file's ``base`` may set besides the RunConfig fields
BASE_ARGS = ("epochs", "optimizer", "lr", "weight_decay", "act_lr")


def _read_spec(path: Path) -> dict:
    """The sweep file's top-level mapping; every problem is a ValueError of one line naming the file."""
    import yaml

    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ValueError(f"{path}: sweep file {what}; give the path of a YAML grid file (examples in grids/)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 text file (byte {err.start}: {err.reason}); "
                         "a sweep file is YAML text") from None
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        context = getattr(err, "context", None)
        raise ValueError(f"{where}: could not parse YAML: {problem}" + (f" ({context})" if context else "")
                         + "; fix the file at that point") from None
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: the top level of a sweep file must be a mapping with keys paper, base, grid "
                         f"and root, not {_yaml_kind(spec)}")
    return spec


def _yaml_kind(value: Any) -> str:
    """What a YAML value is, in words, with its article: ``a list``, ``an empty mapping``, ``an empty value``."""
    if value is None:
        return "an empty value"
    kind = {dict: "mapping", list: "list", str: "string", bool: "true/false value", int: "number",
            float: "number"}.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list, str)) and not value:
        return f"an empty {kind}"
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def load_grid(path: str | Path) -> tuple[RunConfig, dict[str, list], Path]:
    """Read a sweep file (YAML): ``paper``, ``base`` overrides, ``grid`` and ``root``.

    ``grid`` maps keys to lists of values, and may hold ``cases`` and a ``folder`` template
    (:mod:`~.layout`); every cell is configured here once, so a bad template, two cells with one
    folder or a value no config accepts are reported before anything runs.

    Every problem with the file (missing, not YAML, wrong shape, bad cells) is a one-line
    ``ValueError`` that starts with the file name, and for YAML syntax errors its
    1-based line and column: ``grids/x.yaml:3:7: could not parse YAML: ...``.
    """
    path = Path(path)
    spec = _read_spec(path)
    unknown = set(spec) - {"paper", "base", "grid", "root", "cluster"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; a sweep file has paper, base, grid, root "
                         "(and optionally cluster)")
    if "grid" not in spec or "root" not in spec:
        raise ValueError(f"{path}: a sweep file needs 'grid' (key → list of values) and 'root' (results folder)")
    grid, base, root = spec["grid"], spec.get("base") or {}, spec["root"]
    if not isinstance(root, str) or not root.strip():
        raise ValueError(f"{path}: 'root' must be the results folder as a path string, e.g. 'runs/my_sweep'")
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"{path}: 'grid' must be a mapping of key → list of values, e.g. "
                         f"'activation: [relu, arelu]', not {_yaml_kind(grid)}")
    scalars = [k for k, v in grid.items() if k != FOLDER and not isinstance(v, list)]
    if scalars:
        raise ValueError(f"{path}: grid keys {scalars} need a list of values (write 'key: [value]' for one value); "
                         "put settings shared by every run under 'base'")
    if not isinstance(base, dict):
        raise ValueError(f"{path}: 'base' must be a mapping of config field → value, not {_yaml_kind(base)}")
    fields = {f.name for f in dataclasses.fields(RunConfig)} - {"paper"}
    unknown = set(base) - fields - set(BASE_ARGS)
    if unknown:
        raise ValueError(f"{path}: base keys {sorted(unknown)} are neither config fields "
                         f"({', '.join(sorted(fields))}) nor {', '.join(BASE_ARGS)}")
    if FOLDER in grid and (not isinstance(grid[FOLDER], str) or not grid[FOLDER].strip()):
        raise ValueError(f"{path}: grid 'folder' must be a template string such as '{{case}}/seed{{seed}}' "
                         f"(each cell's folder under root), not {_yaml_kind(grid[FOLDER])}")
    try:
        config = paper_config(spec.get("paper", "c"), **base)
        grid_cells(config, grid, Path(root))  # every cell's config, folder and templates, checked now
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    return config, grid, Path(root)


def cluster_options(path: str | Path, **flags: Any) -> ClusterOptions:
    """A sweep file's optional ``cluster`` mapping (``num_cpus: 1``, ``num_gpus: 1``, ``partition: gpu``,
    ``time_min: 120``, ...: the fields of :class:`~mixact_lib.runs.executors.ClusterOptions`), with ``flags``
    (command-line values; ``None`` = not given) taking precedence."""
    path = Path(path)
    values = _read_spec(path).get("cluster") or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: 'cluster' must be a mapping such as 'num_gpus: 1', not {_yaml_kind(values)}")
    try:
        return ClusterOptions.from_dict({**values, **{k: v for k, v in flags.items() if v is not None}})
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


def run_study(path: str | Path, *, overrides: dict[str, Any] | None = None, root: str | Path | None = None,
              base_dir: str | Path = ".", device: str | None = None, train: bool = True,
              progress: bool = True, executor: str = "local",
              cluster: ClusterOptions | dict | None = None) -> pd.DataFrame:
    """Run, or read back, the grid of one sweep file: the entry point of the book's study chapters.

    Without ``overrides`` the runs go to the file's ``root`` (relative to ``base_dir``, the
    repository root for the committed studies), so committed results are read back and only
    missing runs train. ``overrides`` (key → value or list of values; ``None`` values are
    ignored) replace or add grid axes, e.g. ``{"seed": [0, 1, 2, 3, 4], "epochs": 81}``;
    those runs differ from the committed ones, so they need their own ``root``.
    ``device`` changes where missing runs train without changing what they are; with
    ``train=False`` nothing trains and the table holds whichever runs have finished.
    The results folder is returned in ``table.attrs["root"]`` (e.g. for :func:`load_histories`).
    ``executor`` and ``cluster`` are :func:`sweep`'s; without ``cluster``, the file's own ``cluster``
    mapping (if any) applies.
    """
    base, grid, file_root = load_grid(path)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if overrides and root is None:
        raise ValueError(f"overrides {sorted(overrides)} change the runs of {path}; give a root folder for them "
                         "so they do not mix with the study's own results")
    grid = dict(grid)
    for key, value in overrides.items():
        grid[key] = value if key == FOLDER else list(value) if isinstance(value, (list, tuple)) else [value]
    if device is not None:
        base = dataclasses.replace(base, device=device)
    folder = Path(root) if root is not None else Path(base_dir) / file_root
    if cluster is None:
        cluster = cluster_options(path)
    table = (sweep(base, grid, folder, progress=progress, executor=executor, cluster=cluster) if train
             else collect_summaries(folder))
    table.attrs["root"] = str(folder)
    return table
