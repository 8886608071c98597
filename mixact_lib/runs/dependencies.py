"""Runs that need other runs, and the order a grid's cells then run in.

Two runs read another run's folder: ConvNet-Optimized takes each layer's dominant activation from a
finished AdAct run (``optimized_from``, paper C §3), and paper A's learning-rate study starts the
mixture cycle from a finished cycle-1 run's weights (``init_from``). A grid cell *needs* the folders
these two fields name; a grid file writes them as templates of the cell's own values::

    optimized_from: "{root}/adact/seed{seed}"

A needed folder that is another cell of the same grid runs first: every executor starts a cell only
once the cells it needs have finished (``local`` runs the cells in grid order, skipping ahead past a
cell that waits; ``ray`` submits a cell when its cells have finished; ``slurm`` submits one job array
per wave). A needed folder outside the grid must hold a finished run, or be held by a live task that is
training it (then the cell waits for it); anything else refuses the sweep before the first cell trains,
naming the run to finish first. A cell whose needed run failed is not run and is reported as failed.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from .config import RunConfig
from .locks import CLAIM_TTL_S, is_expired, read_claim

#: the config fields that name another run's folder
DEPENDENCY_FIELDS = ("optimized_from", "init_from")
#: seconds between two looks at a needed run that another task is training
DEPENDENCY_POLL_S = 10.0


def folder_key(path: str | Path) -> str:
    """One spelling per folder (absolute, normalised), so ``results/x`` and ``./results/x/`` match."""
    return os.path.normpath(os.path.abspath(path))


def needs(config: RunConfig) -> list[tuple[str, str]]:
    """``(field, folder)`` for every run folder ``config`` reads (its ``optimized_from``, ``init_from``)."""
    return [(name, getattr(config, name)) for name in DEPENDENCY_FIELDS if getattr(config, name)]


def is_finished(folder: str | Path) -> bool:
    return (Path(folder) / "summary.json").exists()


def _held_by_live_task(folder: str | Path, ttl: float) -> bool:
    claim = read_claim(folder)
    return claim is not None and not is_expired(claim, ttl)


def _circle(edges: dict[str, list[str]]) -> list[str] | None:
    """One circle of the graph ``edges`` (node → nodes it needs), as a path back to its start, else None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for nxt in edges.get(node, []):
            found = visit(nxt)
            if found:
                return found
        path.pop()
        done.add(node)
        return None

    for start in edges:
        found = visit(start)
        if found:
            return found
    return None


def check_dependencies(pending: list[RunConfig], ttl: float = CLAIM_TTL_S) -> None:
    """Refuse, before anything trains, cells whose needed runs can never be there, and circles of needs.

    A needed folder is fine when it is another pending cell, holds a finished run, or is held by a
    live task; the ValueError lists every other one with the run to finish first.
    """
    cells = {folder_key(c.out): c for c in pending}
    missing, edges = [], {}
    for config in pending:
        edges[folder_key(config.out)] = []
        for field, folder in needs(config):
            if folder_key(folder) in cells:
                edges[folder_key(config.out)].append(folder_key(folder))
            elif not is_finished(folder) and not _held_by_live_task(folder, ttl):
                missing.append(f"{config.out} needs {folder} (its {field}), which has not finished")
    if missing:
        raise ValueError(f"{len(missing)} grid cell(s) need runs that are neither finished nor cells of this grid: "
                         + "; ".join(missing) + ". Finish those runs first (or add them to the grid, "
                         "which then runs them before the cells that need them)")
    circle = _circle(edges)
    if circle:
        names = {folder_key(c.out): c.out for c in pending}
        raise ValueError("grid cells need each other in a circle: " + " → ".join(names[k] for k in circle)
                         + "; a cell's optimized_from/init_from must name a run that does not need it back")


def next_cell(queue: list[RunConfig], busy: Iterable[str], failed: dict[str, str],
              ttl: float = CLAIM_TTL_S) -> tuple[RunConfig, str | None] | None:
    """Take the first cell of ``queue`` that need not wait: ``(cell, None)`` when it can run now,
    ``(cell, reason)`` when it never can (a run it needs failed or stopped unfinished), ``None`` when
    every cell waits.

    ``busy``: the folders (:func:`folder_key`) of this sweep's cells not yet done (queued or running);
    ``failed``: folder → what happened, for this sweep's cells that failed or were not run.
    """
    busy = set(busy)
    for i, config in enumerate(queue):
        reason, waits = None, False
        for field, folder in needs(config):
            key = folder_key(folder)
            if is_finished(folder):
                continue
            if key in failed:
                reason = f"it needs {folder} (its {field}), which {failed[key]}"
                break
            if key in busy or _held_by_live_task(folder, ttl):
                waits = True
            else:
                reason = (f"it needs {folder} (its {field}), which stopped without finishing; finish that run, "
                          "then run the grid again")
                break
        if reason is not None or not waits:
            return queue.pop(i), reason
    return None


def not_run(config: RunConfig, reason: str) -> dict:
    """The outcome of a cell that was not started because a run it needs is not there."""
    return {"folder": config.out, "status": "failed", "host": None, "pid": None, "error": f"not run: {reason}"}


def wait_a_while() -> None:
    """Pause before looking again at needed runs that other tasks are training."""
    time.sleep(DEPENDENCY_POLL_S)


def waves(pending: list[RunConfig]) -> list[list[RunConfig]]:
    """The pending cells in waves, grid order kept within each: a cell is in the wave after the
    latest wave of the pending cells it needs (call :func:`check_dependencies` first: no circles)."""
    cells = {folder_key(c.out): c for c in pending}
    depth: dict[str, int] = {}

    def wave_of(key: str) -> int:
        if key not in depth:
            inside = [folder_key(f) for _, f in needs(cells[key]) if folder_key(f) in cells]
            depth[key] = 1 + max((wave_of(k) for k in inside), default=-1)
        return depth[key]

    grouped: list[list[RunConfig]] = []
    for config in pending:
        n = wave_of(folder_key(config.out))
        grouped.extend([] for _ in range(n + 1 - len(grouped)))
        grouped[n].append(config)
    return grouped
