"""What the machine was doing while something was timed: how loaded it was, how its allocator was set, and the
versions and caches a measurement is reported with (the record :mod:`mixact_lib.studies.timing` keeps of each
measurement).

**How loaded the machine was** (:func:`cpu_sample`, :func:`load_between`). Before and after the rounds the
harness reads the busy time of the cores this process may run on (``/proc/stat``, user + nice + system +
irq + softirq + steal) and this process's own CPU time (``os.times``, every thread). Their difference over
the wall time is how many cores *other* processes held (``other_cores``); a measurement is marked
``loaded`` when that exceeds :data:`LOADED_CORES`. The 1-minute load average is recorded at both ends.
Where ``/proc/stat`` cannot be read, ``other_cores`` and ``loaded`` are ``None``.

**The allocator** (:func:`allocator_state`). glibc returns large freed blocks to the system and maps them
afresh on the next allocation, so a step can pay page faults that depend on what ran before it. With
``GLIBC_TUNABLES`` set to :data:`HOLD_FREED_TUNABLES` at process start freed blocks stay in the process
(checked on glibc 2.36: a freed 64 MB tensor leaves the resident size where it was); the benchmark scripts'
``--hold-freed-memory`` restarts the script with it, and every result records whether it was set.
"""
from __future__ import annotations

import getpass
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

#: cores held by other processes above which a measurement is marked ``loaded``
LOADED_CORES = 0.25
#: GLIBC_TUNABLES value that keeps freed memory in the process (thresholds at 2^32 − 1 bytes)
HOLD_FREED_TUNABLES = "glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295"


# ------------------------------------------------------------------ load


@dataclass(frozen=True)
class CpuSample:
    """One reading of the machine: wall clock, busy CPU-seconds of our cores, our own CPU-seconds, load."""
    wall_s: float
    busy_s: float | None  # None where /proc/stat cannot be read
    own_s: float
    loadavg_1min: float | None
    cores: int


def cpu_sample() -> CpuSample:
    """Read the cores this process may run on (``/proc/stat``), its own CPU time and the load average."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    busy = None
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as f:
            lines = [line.split() for line in f if re.match(r"cpu\d+ ", line)]
        fields = {int(parts[0][3:]): [int(v) for v in parts[1:]] for parts in lines}
        # user nice system idle iowait irq softirq steal (guest time is already inside user)
        busy = sum(sum(v[:3]) + sum(v[5:8]) for cpu, v in fields.items() if cpu in cores) / ticks
    except (OSError, ValueError):
        pass
    own = os.times()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    load = None if load is None else round(load, 3)
    return CpuSample(time.monotonic(), busy, own.user + own.system, load, len(cores))


def load_between(start: CpuSample, end: CpuSample, threshold: float = LOADED_CORES) -> dict:
    """How many cores other processes held between two samples, and whether that marks the result ``loaded``."""
    wall = max(end.wall_s - start.wall_s, 1e-9)
    own = (end.own_s - start.own_s) / wall
    other = None
    if start.busy_s is not None and end.busy_s is not None:
        other = max(0.0, (end.busy_s - start.busy_s) / wall - own)
    return {"wall_s": round(wall, 3), "cores": end.cores, "own_cores": round(own, 3),
            "other_cores": None if other is None else round(other, 3), "threshold_cores": threshold,
            "loadavg_1min_start": start.loadavg_1min, "loadavg_1min_end": end.loadavg_1min,
            "loaded": None if other is None else other > threshold}


def any_loaded(flags: Iterable[bool | None]) -> bool | None:
    """True if any measurement was loaded, False if all were read and none was, None if one was not read."""
    flags = list(flags)
    if any(f is True for f in flags):
        return True
    return None if not flags or any(f is None for f in flags) else False


def load_sentence(run: dict) -> str:
    """How loaded the machine was while a run (or a merged note) was timed, as one sentence for a table."""
    readings = run.get("load") or []
    readings = [r for r in ([readings] if isinstance(readings, dict) else readings) if r]
    if not readings:
        return "The machine's load was not recorded."
    other = [r["other_cores"] for r in readings if r.get("other_cores") is not None]
    averages = [v for r in readings for v in (r.get("loadavg_1min_start"), r.get("loadavg_1min_end")) if v is not None]
    parts = ([f"other processes held {_span(other)} of {readings[0]['cores']} cores"] if other else []) + \
            ([f"the 1-minute load average was {_span(averages)}"] if averages else [])
    verdict = {True: "loaded", False: "not loaded", None: "load unknown"}[run.get("loaded")]
    return (f"While it was timed, {' and '.join(parts) or 'nothing could be read'} "
            f"({verdict}: the mark is {readings[0]['threshold_cores']:g} cores).")


def _span(values: Sequence[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}"


def result_loaded(result: dict) -> bool | None:
    """:func:`any_loaded` over a result's runs and the later runs merged into them."""
    return any_loaded([run.get("loaded") for run in result["runs"]]
                      + [m.get("loaded") for run in result["runs"] for m in run.get("merged", [])])


# ------------------------------------------------------------------ allocator and environment


def allocator_state(env: Mapping[str, str] = os.environ) -> dict:
    """``GLIBC_TUNABLES`` as this process was started with it, and whether it holds freed memory."""
    tunables = env.get("GLIBC_TUNABLES")
    held = tunables is not None and all(t in tunables.split(":") for t in HOLD_FREED_TUNABLES.split(":"))
    return {"glibc_tunables": tunables, "holds_freed_memory": held}


def hold_freed_memory_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``env`` with :data:`HOLD_FREED_TUNABLES` added to ``GLIBC_TUNABLES`` (which glibc reads at start only)."""
    if allocator_state(env)["holds_freed_memory"]:
        return dict(env)
    old = env.get("GLIBC_TUNABLES")
    return {**env, "GLIBC_TUNABLES": HOLD_FREED_TUNABLES if not old else f"{old}:{HOLD_FREED_TUNABLES}"}


def restart_holding_freed_memory(argv: Sequence[str]) -> None:
    """Replace this process by ``python argv…`` with :func:`hold_freed_memory_env`; return if already set."""
    if allocator_state()["holds_freed_memory"]:
        return
    os.execve(sys.executable, [sys.executable, *argv], hold_freed_memory_env())


def result_header(**extra) -> dict:
    """The versions, time, allocator and load average a measurement is reported with; ``runs`` is for the caller."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"torch": torch.__version__, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M"), "cpu_count": os.cpu_count(), "loadavg_1min": load,
            **allocator_state(), **extra, "runs": []}


def inductor_cache_state() -> str:
    """'cold' if torch.compile's on-disk cache is empty (compile times then include gcc), else 'warm'."""
    path = Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR")
                or Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}")
    return "warm" if path.exists() and any(path.iterdir()) else "cold"
