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

How loaded the machine was over the rounds, how its allocator was set, and the header a result is written
with are read by :mod:`mixact_lib.studies.machine`. A benchmark's README table is filled only from a quiet
result, or from a loaded one when the caller allows it, under a label (:func:`update_measured_block`).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .machine import (BUSY_EXIT, LOADED_CORES, QUIET_CHECK_SECONDS, CpuSample, any_loaded, check_before_measuring,
                      cpu_sample, load_between, load_label, readme_refusal, restart_holding_freed_memory, result_header,
                      result_loaded)


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
    The load of the machine over all rounds is read with ``sample`` (default
    :func:`mixact_lib.studies.machine.cpu_sample`) and summarised by
    :func:`mixact_lib.studies.machine.load_between`. ``clock`` is there for tests.
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
    the repeats' load readings and ``loaded`` is :func:`mixact_lib.studies.machine.any_loaded` of theirs.
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
                       "holds_freed_memory": new.get("holds_freed_memory"), **note_extra(match_run)})
        out["runs"].append(dict(run, rows=rows, merged=merged))
    out.update({key: new[key] for key in carry if key in new})
    return out


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


def shown(path: Path, root: Path) -> str:
    """A path as messages show it: relative to ``root`` (the repository) where it lies inside it."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def update_block(path: Path, key: str, text: str) -> None:
    """Replace the block between ``<!-- {key} -->`` and ``<!-- /{key} -->`` in the Markdown file ``path``."""
    body = path.read_text()
    pattern = re.compile(rf"(<!-- {re.escape(key)} -->\n).*?(<!-- /{re.escape(key)} -->)", re.S)
    if not pattern.search(body):
        raise SystemExit(f"{path} has no <!-- {key} --> … <!-- /{key} --> block to fill")
    path.write_text(pattern.sub(lambda m: m.group(1) + text.rstrip() + "\n" + m.group(2), body))


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark scripts' flags on load: ``--allow-loaded`` (for ``--update-readme``) and ``--require-quiet``."""
    parser.add_argument("--allow-loaded", action="store_true",
                        help="with --update-readme: also fill tables from loaded runs (or runs with no load "
                             "record), labelled as measured on a loaded machine")
    parser.add_argument("--require-quiet", action="store_true",
                        help=f"exit with status {BUSY_EXIT} instead of measuring when other processes hold more "
                             f"than {LOADED_CORES:g} cores (watched for {QUIET_CHECK_SECONDS:g} s before the rounds)")


def readme_from_json(path: Path, readme: Path, key: str, markdown: Callable[[dict], str], root: Path,
                     allow_loaded: bool) -> int:
    """A benchmark script's ``--update-readme``: README block ``key`` from the JSON at ``path``; the exit status."""
    if not path.exists():
        print(f"{path} is missing: run the benchmark script first", file=sys.stderr)
        return 1
    result = json.loads(path.read_text())
    return 0 if update_measured_block(readme, key, result, markdown(result), shown(path, root), allow_loaded) else 1


def script_parser(doc: str, results: Path, json_name: str, readme_what: str, quick_help: str
                  ) -> argparse.ArgumentParser:
    """The arguments every single-run benchmark script shares: ``--quick`` (``quick_help``), ``--threads``,
    ``--out`` (folder of ``json_name``), ``--hold-freed-memory``, ``--update-readme`` (rebuild ``readme_what``)
    and :func:`add_load_arguments`'s; the description and epilog come from the script's docstring ``doc``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=doc.split("\n\n", 1)[1])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--out", type=Path, default=results, help=f"folder for {json_name}")
    parser.add_argument("--hold-freed-memory", action="store_true",
                        help="restart with GLIBC_TUNABLES set so that glibc keeps freed buffers (recorded in the JSON)")
    parser.add_argument("--update-readme", action="store_true", help=f"only rebuild the README's {readme_what}")
    add_load_arguments(parser)
    return parser


def start_measurement(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str] | None,
                      script: str, update_readme: Callable[[bool], int]) -> dict:
    """What a single-run benchmark script does after parsing ``args`` (which have ``--update-readme``,
    ``--hold-freed-memory`` and :func:`add_load_arguments`'s flags): refuse ``--allow-loaded`` without
    ``--update-readme``; with it, only rebuild the README (``update_readme(allow_loaded)``) and exit; restart
    holding freed memory if asked; watch the machine (``--require-quiet``). Returns the load reading before."""
    if args.allow_loaded and not args.update_readme:
        parser.error("--allow-loaded decides which runs may fill the README: give it with --update-readme")
    if args.update_readme:
        raise SystemExit(update_readme(args.allow_loaded))
    if args.hold_freed_memory:
        restart_holding_freed_memory([script, *(sys.argv[1:] if argv is None else argv)])
    return check_before_measuring(args.require_quiet)


def finish_measurement(run: dict, load_before: dict, markdown: Callable[[dict], str], args: argparse.Namespace,
                       results: Path, name: str) -> dict:
    """What a single-run benchmark script does with its one measured ``run``: wrap it in the result header with
    the load reading from :func:`start_measurement`, mark it loaded or not, print its table (``markdown``) and
    write ``<args.out>/<name>.json`` (not for ``--quick`` into ``results``, :func:`write_result`). Returns the
    result."""
    result = result_header(load_before=load_before)
    result["runs"].append(run)
    result["loaded"] = result_loaded(result)
    print(markdown(result))
    write_result(result, args.out, results, name, args.quick)
    return result


def ms_phrase(ms: float, ms_min: float | None, digits: int = 2) -> str:
    """A time as a table's first line states it: the median over rounds, and the minimum where it was recorded."""
    return f"{ms:.{digits}f} ms median, " + ("min not recorded" if ms_min is None else f"{ms_min:.{digits}f} ms min")


def update_measured_block(path: Path, key: str, result: dict, text: str, source: str, allow_loaded: bool) -> bool:
    """Fill README block ``key`` with ``text``, a table made from ``result``, only if ``result`` is quiet.

    A loaded result, or one without a load record, is refused (one line on stderr, from
    :func:`mixact_lib.studies.machine.readme_refusal`; the block stays as it was) unless ``allow_loaded``, and
    then the table goes in under its :func:`~mixact_lib.studies.machine.load_label`. Returns whether it went in.
    """
    refusal = readme_refusal(result, source, key)
    if refusal and not allow_loaded:
        print(refusal, file=sys.stderr)
        return False
    label = load_label(result)
    update_block(path, key, (f"**{label[0].upper()}{label[1:]}.** Not counted as quiet: a busy machine slows "
                             "ReLU's memory-bound pass most, which flatters every ratio below.\n\n" if label else "")
                 + text)
    return True
