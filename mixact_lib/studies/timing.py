"""One timing harness for every speed measurement: shuffled rounds, a warm step before each timed step,
ratios to a reference measured in the same rounds, the machine's load while they ran, and repeats merged.

Used by ``benchmarks/activations.py`` (an activation's forward+backward against ``F.relu``),
``benchmarks/training.py`` (a network's training step against its ReLU twin) and
:func:`mixact_lib.studies.step_cost.step_costs` (the comparison chapter's step cost).

**How a time is taken** (:func:`time_rounds`). Each round visits every step once, in a new random order;
a visit runs the step once untimed (the *warm step*: the allocator and caches settle after the previous
visitor), waits for the device, then times one more call, again up to the device's end. A step's time is
the median over rounds (``ms``), and its minimum (``ms_min``, the least disturbed call) is kept beside it.
A ratio to the reference is taken two ways (:func:`summarise`): the median time over the reference's median
time (``ratio``), and the median over rounds of the ratio within a round (``round_ratio``, with its range
and quartiles), which pairs calls made close in time.

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
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

#: cores held by other processes above which a measurement is marked ``loaded``
LOADED_CORES = 0.25
#: GLIBC_TUNABLES value that keeps freed memory in the process (thresholds at 2^32 − 1 bytes)
HOLD_FREED_TUNABLES = "glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295"


# ------------------------------------------------------------------ timing


def synchronizer(device: torch.device | str) -> Callable[[], None]:
    """A call that waits until ``device`` has finished its queued work (nothing to wait for on a CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def first_call_seconds(step: Callable[[], object], sync: Callable[[], None] = lambda: None,
                       clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds of one call of ``step`` up to the device's end: the first one builds, compiles or allocates."""
    sync()
    start = clock()
    step()
    sync()
    return clock() - start


@dataclass
class Timings:
    """What :func:`time_rounds` measured: ``seconds[key]`` holds one timed call per round, in round order."""
    seconds: dict[Hashable, list[float]]
    load: dict

    def summary(self, key: Hashable, reference: Hashable) -> dict:
        """:func:`summarise` of ``key`` against ``reference``."""
        return summarise(self.seconds[key], self.seconds[reference])


def time_rounds(steps: Mapping[Hashable, Callable[[], object]], rounds: int, *,
                sync: Callable[[], None] = lambda: None, before: Callable[[Hashable], None] | None = None,
                seed: int | None = None, progress: bool = False, clock: Callable[[], float] = time.perf_counter,
                sample: Callable[[], CpuSample] | None = None, threshold: float = LOADED_CORES) -> Timings:
    """Time every step once per round, in a new random order each round, each right after a warm call.

    ``before(key)`` runs before a visit's warm call (to switch a backend, say); ``sync`` waits for the
    device before and after the timed call. ``seed`` fixes the orders (``None``: a fresh random order).
    The load of the machine over all rounds is read with ``sample`` (default :func:`cpu_sample`) and
    summarised by :func:`load_between`. ``clock`` is there for tests.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    sample = sample or cpu_sample
    order = list(steps)
    shuffle = random.Random(seed)
    seconds: dict[Hashable, list[float]] = {key: [] for key in order}
    start_sample = sample()
    for _ in tqdm(range(rounds), desc="timing rounds", disable=not progress):
        shuffle.shuffle(order)
        for key in order:
            if before is not None:
                before(key)
            steps[key]()  # warm: untimed
            sync()
            start = clock()
            steps[key]()
            sync()
            seconds[key].append(clock() - start)
    return Timings(seconds, load_between(start_sample, sample(), threshold))


def summarise(times: Sequence[float], reference: Sequence[float]) -> dict:
    """Milliseconds of one timed thing and its ratio to a reference timed in the same rounds.

    ``ms``/``ms_min``: median and minimum over rounds; ``ratio``: median time ÷ the reference's median time;
    ``ratio_of_minima``: minimum ÷ the reference's minimum; ``round_ratio``: the median over rounds of the
    time ÷ the reference's time in that round, with ``round_ratio_min``/``_max`` and ``_q1``/``_q3``.
    """
    if len(times) != len(reference) or not times:
        raise ValueError(f"need the same number (≥ 1) of rounds for both, got {len(times)} and {len(reference)}")
    rounds = [t / r for t, r in zip(times, reference)]
    return {"ms": statistics.median(times) * 1e3, "ms_min": min(times) * 1e3,
            "ratio": statistics.median(times) / statistics.median(reference),
            "ratio_of_minima": min(times) / min(reference),
            "round_ratio": statistics.median(rounds), "round_ratio_min": min(rounds),
            "round_ratio_max": max(rounds), "round_ratio_q1": float(np.percentile(rounds, 25)),
            "round_ratio_q3": float(np.percentile(rounds, 75))}


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


# ------------------------------------------------------------------ memory


def saved_bytes(fn: Callable, *args) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``fn(*args)`` runs.

    Counted with ``torch.autograd.graph.saved_tensors_hooks``: a storage saved twice (a weight used by two
    operations, an input and a view of it) counts once. Nothing runs backward.
    """
    storages: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[(storage.data_ptr(), str(t.device), storage.nbytes())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args)  # held until counted: its graph keeps the saved storages alive
    del out
    return sum(storages.values())


# ------------------------------------------------------------------ repeats and merged runs


def merge_repeats(runs: Sequence[dict], ratio: str, low: str, high: str, medians: Sequence[str] = (),
                  minima: Sequence[str] = (), run_medians: Sequence[str] = (),
                  run_minima: Sequence[str] = ()) -> dict:
    """One run from several repeats of the same measurement (rows in the same order in each).

    Per row: the median of ``ratio`` over repeats, its range as ``low``/``high`` and every value in
    ``ratios``; the fields in ``medians`` become their median over repeats and those in ``minima`` their
    minimum (likewise ``run_medians``/``run_minima`` for fields of the run). ``load`` becomes the list of
    the repeats' load readings and ``loaded`` is :func:`any_loaded` of theirs.
    """
    merged = dict(runs[0], repeats=len(runs), load=[r.get("load") for r in runs],
                  loaded=any_loaded(r.get("loaded") for r in runs))
    merged.update({k: statistics.median(r[k] for r in runs) for k in run_medians})
    merged.update({k: min(r[k] for r in runs) for k in run_minima})
    rows = []
    for i, row in enumerate(runs[0]["rows"]):
        values = [r["rows"][i][ratio] for r in runs]
        rows.append(dict(row, **{ratio: statistics.median(values), low: min(values), high: max(values)},
                         ratios=values, **{k: statistics.median(r["rows"][i][k] for r in runs) for k in medians},
                         **{k: min(r["rows"][i][k] for r in runs) for k in minima}))
    merged["rows"] = rows
    return merged


def merge_into(old: dict, new: dict, names: Sequence[str], match: Sequence[str] = ("device",),
               row_extra: Callable[[dict, dict], dict] = lambda run, row: {},
               note_extra: Callable[[dict], dict] = lambda run: {},
               place: Callable[[list[dict], dict], int] | None = None, carry: Sequence[str] = ()) -> dict:
    """``old`` with the rows of the activations ``names`` replaced by ``new``'s, runs matched on ``match``.

    Ratios stay within a run: each new row keeps its ratio to the reference of the run it was measured
    in, plus ``row_extra(new_run, row)``; the old run's ``merged`` list records which rows came later, when,
    how they were measured and how loaded the machine was (plus ``note_extra(new_run)``), replacing an
    earlier note that covers no other names. ``place(rows, row)`` is where a new row goes (default: the
    end). Top-level fields in ``carry`` are taken from ``new`` when it has them.
    """
    out = dict(old, runs=[])
    for run in old["runs"]:
        match_run = next((r for r in new["runs"] if all(r[k] == run[k] for k in match)), None)
        if match_run is None:
            out["runs"].append(run)
            continue
        rows = [r for r in run["rows"] if r["activation"] not in names]
        for r in match_run["rows"]:
            if r["activation"] in names:
                row = dict(r, **row_extra(match_run, r))
                rows.insert(len(rows) if place is None else place(rows, row), row)
        merged = [m for m in run.get("merged", []) if not set(m["names"]) <= set(names)]
        merged.append({"names": list(names), "date": new["date"], "rounds": match_run["rounds"],
                       "repeats": match_run.get("repeats", 1), "threads": match_run["threads"],
                       "loaded": match_run.get("loaded"), "load": match_run.get("load"),
                       **note_extra(match_run)})
        out["runs"].append(dict(run, rows=rows, merged=merged))
    out.update({key: new[key] for key in carry if key in new})
    return out


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


# ------------------------------------------------------------------ the benchmark scripts' files


def devices_for(choice: str) -> list[str]:
    """``cpu``, ``cuda``, or ``all`` = the CPU plus CUDA when there is one."""
    if choice in ("cpu", "cuda"):
        return [choice]
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def write_result(result: dict, out: Path, default_out: Path, name: str, quick: bool) -> None:
    """Write ``<out>/<name>.json``. A quick run writes only when sent elsewhere: it must not replace real numbers."""
    if quick and Path(out) == Path(default_out):
        return
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


def update_block(path: Path, key: str, text: str) -> None:
    """Replace the block between ``<!-- {key} -->`` and ``<!-- /{key} -->`` in the Markdown file ``path``."""
    body = path.read_text()
    pattern = re.compile(rf"(<!-- {re.escape(key)} -->\n).*?(<!-- /{re.escape(key)} -->)", re.S)
    if not pattern.search(body):
        raise SystemExit(f"{path} has no <!-- {key} --> … <!-- /{key} --> block to fill")
    path.write_text(pattern.sub(lambda m: m.group(1) + text.rstrip() + "\n" + m.group(2), body))
