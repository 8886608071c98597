"""What the machine was doing while something was timed: how loaded it was, how its allocator was set, and the
versions and caches a measurement is reported with (the record :mod:`mixact_lib.studies.timing` keeps of each
measurement).

**How loaded the machine was** (:func:`cpu_sample`, :func:`load_between`). Before and after the rounds the
harness reads the busy time of the cores this process may run on (``/proc/stat``, user + nice + system +
irq + softirq + steal) and this process's own CPU time (``os.times``, every thread). Their difference over
the wall time is how many cores *other* processes held (``other_cores``); a measurement is marked
``loaded`` when that exceeds :data:`LOADED_CORES`. The 1-minute load average is recorded at both ends.
Where ``/proc/stat`` cannot be read, ``other_cores`` and ``loaded`` are ``None``.

**Before the rounds** (:func:`quiet_check`, :func:`check_before_measuring`). The benchmark scripts watch the
machine for ~2 s before they measure; if other processes held more than :data:`LOADED_CORES` meanwhile, they
name the busiest ones (pid, command, %CPU from ``/proc/<pid>/stat``) and, under ``--require-quiet``, exit with
status :data:`BUSY_EXIT` instead of measuring.

**What may go into a README table** (:func:`load_label`, :func:`readme_refusal`). Only a result whose every
run was read quiet (``loaded`` false) is a quiet figure. A loaded result, or one without a load record (measured
before the record existed), is refused for the README unless the caller allows it, and then its table carries
:func:`load_label`.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

#: cores held by other processes above which a measurement is marked ``loaded``
LOADED_CORES = 0.25
#: where the kernel's process and CPU readings are
PROC = Path("/proc")
#: how long the machine is watched before a measurement starts (seconds)
QUIET_CHECK_SECONDS = 2.0
#: exit status of a ``--require-quiet`` run that found the machine busy
BUSY_EXIT = 3
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


def cpu_sample(proc: Path = PROC, clock: Callable[[], float] = time.monotonic) -> CpuSample:
    """Read the cores this process may run on (``<proc>/stat``), its own CPU time and the load average.

    ``proc`` and ``clock`` are there for tests (a fake ``/proc``, a fake wall clock).
    """
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    busy = None
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open(Path(proc) / "stat") as f:
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
    return CpuSample(clock(), busy, own.user + own.system, load, len(cores))


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


def _readings(run: dict) -> list[dict]:
    """A run's (or merged note's) load readings: one, or one per repeat."""
    readings = run.get("load") or []
    return [r for r in ([readings] if isinstance(readings, dict) else readings) if r]


def load_sentence(run: dict) -> str:
    """How loaded the machine was while a run (or a merged note) was timed, as one sentence for a table."""
    readings = _readings(run)
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


# ------------------------------------------------------------------ what may go into a README table


def load_label(result: dict) -> str:
    """'' for a quiet result (every run and merged run read, none loaded); else what its table is labelled with.

    A loaded result: "measured on a loaded machine (0.61–1.20 other cores busy, load 2.10–3.05)"; a result
    without a load record (measured before the record existed) is not counted as quiet either.
    """
    loaded = result_loaded(result)
    if loaded is False:
        return ""
    items = [item for run in result["runs"] for item in (run, *run.get("merged", []))]
    readings = [r for item in items for r in _readings(item)]
    other = [r["other_cores"] for r in readings if r.get("other_cores") is not None]
    averages = [v for r in readings for v in (r.get("loadavg_1min_start"), r.get("loadavg_1min_end")) if v is not None]
    numbers = ", ".join(([f"{_span(other)} other cores busy"] if other else [])
                        + ([f"load {_span(averages)}"] if averages else []))
    if loaded:
        unrecorded = any(item.get("loaded") is None for item in items)
        return f"measured on a loaded machine ({numbers})" + ("; some of its runs have no load record" if unrecorded
                                                              else "")
    return (("partly " if readings else "") + "measured without a load record (before runs recorded the machine's "
            "load)" + (f"; where recorded: {numbers}" if numbers else ""))


def readme_refusal(result: dict, source: str, block: str) -> str | None:
    """None if ``result`` may fill README table ``block`` as a quiet figure; else one line: why not, what to do."""
    label = load_label(result)
    if not label:
        return None
    why = (f"was {label}" if result_loaded(result) else
           "has no load record (measured before runs recorded the machine's load), so it cannot count as quiet")
    return (f"{source} {why}: README table {block} left as it was. Measure on a quiet machine (pause the training "
            "runs; --require-quiet refuses to start on a busy one), or pass --allow-loaded to put it in labelled.")


# ------------------------------------------------------------------ before the rounds: is the machine quiet?


def process_cpu_seconds(proc: Path = PROC) -> dict[int, tuple[str, float]]:
    """Each process's command and CPU-seconds so far (user + system, all threads), from ``<proc>/<pid>/stat``."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path(proc).iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # the command in brackets may hold spaces
            seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14 and 15
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not readable
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            command = ""
        out[int(entry.name)] = (command or stat[stat.index("(") + 1:stat.rindex(")")], seconds)
    return out


def busiest(before: Mapping[int, tuple[str, float]], after: Mapping[int, tuple[str, float]], wall_s: float,
            exclude: Iterable[int] = (), top: int = 5, least_percent: float = 1.0) -> list[dict]:
    """The ``top`` processes by CPU used between two :func:`process_cpu_seconds` readings (pid, command, %CPU),
    leaving out those under ``least_percent``."""
    exclude = set(exclude)
    used = [{"pid": pid, "command": command[:80], "cpu_percent": round(100 * (seconds - before.get(pid, ("", 0.0))[1])
                                                                         / max(wall_s, 1e-9), 1)}
            for pid, (command, seconds) in after.items() if pid not in exclude]
    return sorted((u for u in used if u["cpu_percent"] >= least_percent), key=lambda u: -u["cpu_percent"])[:top]


def quiet_check(seconds: float = QUIET_CHECK_SECONDS, *, proc: Path = PROC, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic, threshold: float = LOADED_CORES) -> dict:
    """Watch the machine for ``seconds``: :func:`load_between` over them, plus ``busiest``, the top CPU users.

    ``proc``, ``sleep`` and ``clock`` are there for tests.
    """
    before, start = process_cpu_seconds(proc), cpu_sample(proc, clock)
    sleep(seconds)
    end, after = cpu_sample(proc, clock), process_cpu_seconds(proc)
    load = load_between(start, end, threshold)
    return dict(load, busiest=busiest(before, after, load["wall_s"], exclude=[os.getpid()]))


def busy_warning(reading: dict) -> str | None:
    """None for a quiet :func:`quiet_check` reading; else a warning naming the busiest processes."""
    if reading["loaded"] is False:
        return None
    if reading["loaded"] is None:
        return ("warning: the machine's load cannot be read here (no /proc/stat), so this measurement cannot "
                "count as quiet.")
    names = "; ".join(f"{b['pid']} {b['command']} ({b['cpu_percent']:.0f} %CPU)" for b in reading["busiest"])
    average = reading.get("loadavg_1min_end")
    return (f"warning: the machine is busy: other processes held {reading['other_cores']:.2f} of {reading['cores']} "
            f"cores over {reading['wall_s']:.1f} s (mark: {reading['threshold_cores']:g}"
            + (f"; 1-minute load average {average:.2f}" if average is not None else "") + "). Busiest: "
            + (names or "none could be named") + ". Timed now, the result is marked loaded and refused for the "
            "README; pause them or measure later.")


def check_before_measuring(require_quiet: bool, check: Callable[[], dict] | None = None) -> dict:
    """``check()`` (default :func:`quiet_check`) before a measurement: warn on a busy machine, and under
    ``require_quiet`` exit with status :data:`BUSY_EXIT` instead of measuring. Returns the reading without the
    process list."""
    reading = (check or quiet_check)()
    warning = busy_warning(reading)
    if warning:
        print(warning, file=sys.stderr)
        if require_quiet:
            print(f"--require-quiet: not measuring (exit status {BUSY_EXIT}).", file=sys.stderr)
            raise SystemExit(BUSY_EXIT)
    return {k: v for k, v in reading.items() if k != "busiest"}


# ------------------------------------------------------------------ allocator and environment


def allocator_phrase(holds_freed_memory: bool | None) -> str:
    """Whether freed memory was held in the process, as a phrase for a table's first line."""
    return {True: "freed memory held in the process (GLIBC_TUNABLES)",
            False: "freed memory returned to the system (glibc's default)",
            None: "allocator setting not recorded"}[holds_freed_memory]


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
