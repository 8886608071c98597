"""Where a sweep's cells run: this process (``local``), Ray tasks (``ray``) or a SLURM job array (``slurm``).

Every cell is independent, keyed by its folder and resumable, so the grid maps onto an existing
engine and no scheduler of our own: each executor hands :func:`~.cells.run_cell` one cell at a time
and reports its outcome. The cells' folders, their claim files and ``failed.json`` are the only state;
re-running the sweep with any executor skips finished cells and resumes killed ones. A cell that
needs another cell's run (``optimized_from``, ``init_from``) starts only once that run has finished
(:mod:`~.dependencies`): ``local`` and ``ray`` pick the first cell that need not wait, ``slurm``
submits one array per wave.

**Data once per node.** ``local`` loads a dataset once and passes it to every cell that uses it.
``ray`` loads each dataset that two or more pending cells share once, in the driver, on the CPU, and
``ray.put``\\s it: Ray's object store then holds one copy per node, fetched over the network at most
once per node, and every task on that node reads it from there (moved to the cell's device inside
the task). ``slurm`` jobs are separate processes with no shared store: each reads the files itself,
which the node's page cache serves after the first job. Ray and submitit are the optional ``cluster``
extra (``pip install -e ".[cluster]"``).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .cells import FAILED, run_cell
from .dependencies import DEPENDENCY_POLL_S, folder_key, next_cell, not_run, wait_a_while, waves
from .locks import CLAIM_TTL_S
from ..data import Dataset
from .config import RunConfig, resolve_device
from ..training.records import write_json

EXECUTORS = ("local", "ray", "slurm")
#: the config fields that decide which data a run loads (the subset follows data_seed, not seed)
DATA_FIELDS = ("dataset", "train_subset", "test_subset", "val_fraction", "pad_to", "data_root", "data_seed")


@dataclass
class ClusterOptions:
    """How a sweep's cells are spread out; the defaults are one CPU per cell and no GPU."""

    address: str | None = None      # ray: cluster to join (else $RAY_ADDRESS, else start a local one)
    workers: int | None = None      # cells at once; ray: size of a local cluster; slurm: array parallelism
    num_cpus: int = 1               # CPUs per cell (ray task resources, SLURM --cpus-per-task)
    num_gpus: float = 0             # GPUs per cell (ray accepts fractions; SLURM rounds up to whole GPUs)
    threads: int | None = None      # torch CPU threads per cell (default: num_cpus)
    partition: str | None = None    # slurm partition (default: the cluster's)
    time_min: int = 60              # slurm: wall-clock limit of one cell, minutes
    log_folder: str | None = None   # slurm: submitit's job files and logs (default: <root>/.submitit)
    submitit_cluster: str = "slurm"  # "local" runs the array as local processes (tests, a laptop)
    claim_ttl: float = CLAIM_TTL_S  # seconds without heartbeat before a claim counts as abandoned

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ClusterOptions:
        values = {k: v for k, v in (values or {}).items() if v is not None}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown cluster options {sorted(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)


def require(module: str, executor: str):
    """Import an optional engine, or say in one line which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"executor {executor!r} needs the package {module!r}, which is not installed; "
                         "install the cluster extra: pip install -e \".[cluster]\"") from None


def data_key(config: RunConfig) -> tuple:
    return tuple(repr(getattr(config, f)) for f in DATA_FIELDS)


#: loads the data of a config onto a device: ``load(config, device) -> Dataset``
Loader = Callable[[RunConfig, str], Dataset]


class GridProgress:
    """One bar for the whole grid, with done / running / failed counts; remembers every outcome."""

    def __init__(self, total: int, finished: int, desc: str, enabled: bool,
                 on_outcome: Callable[[dict], None] | None = None) -> None:
        self.bar = tqdm(total=total, initial=finished, desc=desc, disable=not enabled)
        self.counts = {"done": finished, "running": 0, "failed": 0}
        self.outcomes: list[dict] = []
        self.on_outcome = on_outcome
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix(self.counts, refresh=True)

    def running(self, n: int) -> None:
        if n != self.counts["running"]:
            self.counts["running"] = n
            self._show()

    def record(self, outcome: dict) -> None:
        self.outcomes.append(outcome)
        if outcome["status"] in ("done", "finished"):
            self.counts["done"] += 1
        elif outcome["status"] == "failed":
            self.counts["failed"] += 1
        self.bar.set_postfix(self.counts, refresh=False)
        self.bar.update(1)  # draws the bar with the new counts at once
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def close(self) -> None:
        self.bar.close()


def _record(progress: GridProgress, outcome: dict, failed: dict[str, str]) -> None:
    """Report a cell's outcome; a failed cell goes into ``failed``, so the cells that need it are not run."""
    progress.record(outcome)
    if outcome["status"] == "failed":
        failed[folder_key(outcome["folder"])] = ("was not run either" if outcome["error"].startswith("not run")
                                                 else "failed in this sweep")


def run_local(pending: list[RunConfig], options: ClusterOptions, progress: GridProgress, load: Loader, *,
              reuse_data: bool = True) -> None:
    """One cell after another in this process, in grid order except that a cell waits for the runs it needs;
    a dataset is loaded once for a stretch of cells using it."""
    key, data = None, None
    queue, failed = list(pending), {}
    while queue:
        picked = next_cell(queue, [folder_key(c.out) for c in queue], failed, options.claim_ttl)
        if picked is None:  # every cell left needs a run that another task is training
            progress.running(0)
            wait_a_while()
            continue
        config, reason = picked
        if reason is not None:
            _record(progress, not_run(config, reason), failed)
            continue
        if reuse_data and data_key(config) != key:
            key, data = data_key(config), None  # the previous one is freed before the next one loads
            data = load(config, resolve_device(config.device))
        progress.running(1)
        _record(progress, run_cell(config, data if reuse_data else None, ttl=options.claim_ttl,
                                   keep_failure=False), failed)
    progress.running(0)


def _crash_outcome(config: RunConfig, err: BaseException) -> dict:
    """The outcome of a cell whose process died (killed, out of memory), recorded in its folder too."""
    text = str(err).strip().splitlines()
    outcome = {"folder": config.out, "status": "failed", "host": None, "pid": None,
               "error": "\n".join(text[-8:]) or type(err).__name__}
    out = Path(config.out)
    if out.is_dir():
        write_json(out / FAILED, {**outcome, "time": time.time(), "type": type(err).__name__})
    return outcome


@functools.lru_cache(maxsize=1)
def _ray_cell():
    ray = require("ray", "ray")
    return ray.remote(run_cell)


def _ray_connect(ray, options: ClusterOptions) -> bool:
    """Join or start a cluster; whether this call started it (and so shuts it down)."""
    if ray.is_initialized():
        return False
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        num_cpus = options.workers * options.num_cpus if options.workers else None
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return True


def run_ray(pending: list[RunConfig], options: ClusterOptions, progress: GridProgress, load: Loader) -> None:
    """Each pending cell as a Ray task; at most ``workers`` (else what the cluster fits) at once."""
    ray = require("ray", "ray")
    started = _ray_connect(ray, options)
    try:
        resources = ray.cluster_resources()
        fits = int(resources.get("CPU", 1) // max(options.num_cpus, 1e-9))
        if options.num_gpus:
            fits = min(fits, int(resources.get("GPU", 0) // options.num_gpus))
        if fits < 1:
            raise ValueError(f"the Ray cluster ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs) "
                             f"cannot fit one cell of {options.num_cpus} CPUs and {options.num_gpus} GPUs; "
                             "lower --num-cpus/--num-gpus or join a larger cluster")
        limit = min(options.workers or fits, fits)
        counts: dict[tuple, int] = {}
        for config in pending:
            counts[data_key(config)] = counts.get(data_key(config), 0) + 1
        refs = {}
        for config in pending:  # shared data: loaded once here, one copy per node in the object store
            key = data_key(config)
            if counts[key] > 1 and key not in refs:
                refs[key] = ray.put(load(config, "cpu"))
        cell = _ray_cell().options(num_cpus=options.num_cpus, num_gpus=options.num_gpus, max_retries=0)
        threads = options.threads or max(int(options.num_cpus), 1)
        queue, inflight, failed = list(pending), {}, {}
        while queue or inflight:
            while queue and len(inflight) < limit:
                busy = [folder_key(c.out) for c in (*queue, *inflight.values())]
                picked = next_cell(queue, busy, failed, options.claim_ttl)
                if picked is None:  # the cells left wait for runs still training
                    break
                config, reason = picked
                if reason is not None:
                    _record(progress, not_run(config, reason), failed)
                    continue
                ref = cell.remote(config, refs.get(data_key(config)), threads=threads, ttl=options.claim_ttl,
                                  keep_failure=True, cwd=os.getcwd())
                inflight[ref] = config
            progress.running(len(inflight))
            if not inflight:
                if queue:  # all of them wait for runs that tasks of another sweep are training
                    wait_a_while()
                continue
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=DEPENDENCY_POLL_S if queue else None)
            for ref in ready:
                config = inflight.pop(ref)
                progress.running(len(inflight))
                try:
                    _record(progress, ray.get(ref), failed)
                except ray.exceptions.RayError as err:  # the worker died: no outcome came back
                    _record(progress, _crash_outcome(config, err), failed)
        progress.running(0)
    finally:
        if started:
            ray.shutdown()


def run_slurm(pending: list[RunConfig], options: ClusterOptions, progress: GridProgress, root: Path) -> None:
    """The pending cells as SLURM job arrays (submitit), one per wave of cells that need no run still to
    be made (:func:`~.dependencies.waves`); waits for each, polling every few seconds."""
    submitit = require("submitit", "slurm")
    folder = Path(options.log_folder) if options.log_folder else root / ".submitit"
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=options.submitit_cluster)
    executor.update_parameters(
        name=f"mixact-{root.name}", timeout_min=int(options.time_min), cpus_per_task=int(options.num_cpus),
        gpus_per_node=int(-(-options.num_gpus // 1)), slurm_partition=options.partition,
        slurm_array_parallelism=options.workers or len(pending))
    task = functools.partial(run_cell, threads=options.threads or max(int(options.num_cpus), 1),
                             ttl=options.claim_ttl, keep_failure=True, cwd=os.getcwd())
    failed: dict[str, str] = {}
    for wave in waves(pending):
        queue, ready = list(wave), []
        while queue:  # the earlier waves are done: a cell here waits only for another sweep's task
            picked = next_cell(queue, [], failed, options.claim_ttl)
            if picked is None:
                wait_a_while()
                continue
            config, reason = picked
            if reason is not None:
                _record(progress, not_run(config, reason), failed)
            else:
                ready.append(config)
        if ready:
            _slurm_array(executor, task, ready, progress, failed)
    progress.running(0)


def _slurm_array(executor, task, cells: list[RunConfig], progress: GridProgress, failed: dict[str, str]) -> None:
    """Submit ``cells`` as one job array and record each job's outcome as it ends."""
    jobs = dict(zip(executor.map_array(task, cells), cells))
    try:
        while jobs:
            for job in [j for j in jobs if j.done()]:
                config = jobs.pop(job)
                progress.running(min(progress.counts["running"], len(jobs)))
                try:
                    _record(progress, job.result(), failed)
                except Exception as err:  # the job itself failed: timeout, node failure, killed
                    _record(progress, _crash_outcome(config, err), failed)
            progress.running(sum(1 for j in jobs if str(j.state).upper().startswith("RUNNING")))
            if jobs:
                time.sleep(2.0)
    except KeyboardInterrupt:
        first = next(iter(jobs), None)
        raise KeyboardInterrupt(f"the job array keeps running ({first.job_id.split('_')[0] if first else '?'}); "
                                "`sweep --status FILE` shows its progress; cells that need its runs were not "
                                "submitted: run the sweep again") from None


def pending_cells(configs: list[RunConfig]) -> Iterator[RunConfig]:
    return (c for c in configs if not (Path(c.out) / "summary.json").exists())
