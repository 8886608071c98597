"""One grid cell's life on disk: claim its folder, run it, record how it ended; and reading that back.

:func:`run_cell` is what every sweep executor runs, in this process (``local``), in a Ray task
(``ray``) or in a SLURM array job (``slurm``). It never raises for a failed run: it returns an
outcome, so one failed cell cannot stop the others. :func:`cell_state` reads a folder and says
where the cell stands (``sweep --status``), from the files alone, whichever executor wrote them:

=============  ====================================================================
finished       ``summary.json`` exists
claimed        ``claim.json`` of a live task (with the epochs it has done so far)
failed         ``failed.json``: the error's last lines, host and time
partial        a killed run: ``history.json`` but no live claim; a re-run resumes it
not started    nothing yet (or only an expired claim)
=============  ====================================================================

A run that fails before its first checkpoint leaves no folder (the rule of :func:`~.runner.run`)
when run by the ``local`` executor, whose console shows the error; cluster executors keep
``failed.json`` there, because the process that saw the error may be long gone.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from .dependencies import is_finished, needs
from .locks import CLAIM_TTL_S, hold, is_expired, read_claim
from ..data import Dataset, Split
from .config import RunConfig, resolve_device
from .runner import first_missing, run
from ..training.records import read_json, write_json

FAILED = "failed.json"
#: lines of a failed cell's traceback kept in failed.json and shown in the sweep's report
ERROR_LINES = 8


def on_device(data: Dataset, device: str) -> Dataset:
    """``data`` with every split on ``device`` (a dataset shared by reference is loaded on the CPU)."""
    def move(split: Split | None) -> Split | None:
        return None if split is None else Split(split.x.to(device), split.y.to(device))

    if data.train.x.device == torch.device(device):
        return data
    return dataclasses.replace(data, train=move(data.train), test=move(data.test), val=move(data.val))


def error_tail(err: BaseException, lines: int = ERROR_LINES) -> str:
    """The last ``lines`` lines of ``err``'s traceback: where it happened and what it said."""
    text = "".join(traceback.format_exception(err)).rstrip().splitlines()
    return "\n".join(text[-lines:])


def _remove_empty(folder: Path, up_to: Path | None) -> None:
    """rmdir ``folder`` and its parents up to ``up_to`` (the first one this cell created), while empty."""
    while up_to is not None:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == up_to:
            return
        folder = folder.parent


def run_cell(config: RunConfig | dict, data: Dataset | None = None, *, threads: int | None = None,
             ttl: float = CLAIM_TTL_S, keep_failure: bool = True, cwd: str | None = None) -> dict[str, Any]:
    """Run one grid cell under a claim of its folder; never raises for a failed run.

    Returns ``{"folder", "status", "host", "pid"}`` plus ``summary`` (status ``done``: trained now,
    or ``finished``: read back), ``error`` (status ``failed``: the traceback's last lines) or
    ``holder`` (status ``claimed``: another live task has the folder). ``threads`` sets torch's
    CPU threads for this process; ``keep_failure`` keeps ``failed.json`` even where the failed run
    would otherwise leave no folder. ``cwd``: the folder relative paths (``out``, ``data_root``,
    ``./data``) mean, i.e. the driver's working directory, where a worker process starts elsewhere.
    """
    if cwd is not None and os.path.isdir(cwd):
        os.chdir(cwd)
    if isinstance(config, dict):
        config = RunConfig.from_dict(config)
    out = Path(config.out)
    outcome: dict[str, Any] = {"folder": str(out), "host": socket.gethostname(), "pid": os.getpid()}
    if (out / "summary.json").exists():
        return {**outcome, "status": "finished", "summary": read_json(out / "summary.json")}
    if threads:
        torch.set_num_threads(threads)
    created_from = first_missing(out)
    try:
        with hold(out, ttl) as claim:
            if claim is None:
                return {**outcome, "status": "claimed", "holder": read_claim(out)}
            with contextlib.suppress(FileNotFoundError):  # this attempt replaces an earlier one's record
                (out / FAILED).unlink()
            try:
                if data is not None:
                    data = on_device(data, resolve_device(config.device))
                outcome.update(status="done", summary=run(config, progress=False, data=data).summary)
            except Exception as err:  # every failure becomes an outcome; KeyboardInterrupt still stops
                outcome.update(status="failed", error=error_tail(err))
                if keep_failure or (out / "config.json").exists():  # config.json: run() kept the folder
                    write_json(out / FAILED, {**outcome, "time": time.time(), "type": type(err).__name__})
    finally:
        if out.is_dir() and not any(out.iterdir()):
            _remove_empty(out, created_from)
    return outcome


def cell_state(config: RunConfig, ttl: float = CLAIM_TTL_S) -> dict[str, Any]:
    """Where one cell stands, from its folder alone: ``state`` (see the module docstring) and details."""
    out = Path(config.out)
    total = sum(p.epochs for p in config.phases)
    state: dict[str, Any] = {"folder": out.name, "epochs": total, "epochs_done": 0, "detail": ""}
    if (out / "summary.json").exists():
        return {**state, "state": "finished", "epochs_done": total}
    with contextlib.suppress(OSError, ValueError):
        state["epochs_done"] = len(read_json(out / "history.json"))
    claim = read_claim(out)
    if claim is not None and not is_expired(claim, ttl):
        since = time.strftime("%Y-%m-%d %H:%M", time.localtime(claim.get("started", 0)))
        return {**state, "state": "claimed", "detail": f"by {claim.get('host')} pid {claim.get('pid')} since {since}"}
    if (out / FAILED).exists():
        failure = read_json(out / FAILED)
        last = (failure.get("error") or "").strip().splitlines()[-1:] or ["?"]
        return {**state, "state": "failed", "detail": f"on {failure.get('host')}: {last[0]}"}
    if state["epochs_done"] or (out / "config.json").exists():
        return {**state, "state": "partial", "detail": "a re-run resumes it"}
    return {**state, "state": "not started", "detail": "expired claim" if claim is not None else ""}


def grid_status(configs: list[RunConfig], ttl: float = CLAIM_TTL_S) -> list[dict[str, Any]]:
    """:func:`cell_state` of every cell of a grid, in grid order, each ``folder`` named from the folder
    that holds them all (``relu/seed0`` in a grid of ``<case>/seed<k>`` folders); a cell not started
    that needs a run not finished yet says which (``after adact/seed0``)."""
    states = [cell_state(c, ttl) for c in configs]
    outs = [Path(c.out) for c in configs]
    common = Path(os.path.commonpath([o.parent for o in outs])) if outs else Path()
    for state, config, out in zip(states, configs, outs):
        state["folder"] = str(out.relative_to(common)) if out.is_relative_to(common) else out.name
        waits_for = [folder for _, folder in needs(config) if not is_finished(folder)]
        if state["state"] == "not started" and waits_for and not state["detail"]:
            names = [str(Path(f).relative_to(common)) if Path(f).is_relative_to(common) else f for f in waits_for]
            state["detail"] = "after " + ", ".join(names)
    return states
