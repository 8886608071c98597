"""Forward+backward cost of every activation, as a multiple of ``F.relu`` measured in the same run.

    python benchmarks/activations.py                 # CPU (and CUDA if present), writes results/bench/
    python benchmarks/activations.py --quick         # smoke run: small tensor, few reps
    python benchmarks/activations.py --compile       # add the torch.compile backend column
    python benchmarks/activations.py --compile-cost  # first step in fresh processes: compile, native, eager
    python benchmarks/activations.py --repeats 3     # the whole measurement three times: median and range
    python benchmarks/activations.py --threads 2     # at another thread count (file activations-cpu-t2.json)
    python benchmarks/activations.py --hold-freed-memory  # glibc keeps freed buffers (GLIBC_TUNABLES, recorded)
    python benchmarks/activations.py --require-quiet # exit with status 3 instead of measuring on a busy machine
    python benchmarks/activations.py --update-readme # rebuild benchmarks/README.md tables from quiet runs' JSON
    python benchmarks/activations.py --update-readme --allow-loaded  # also from loaded runs, labelled as such
    python benchmarks/activations.py --names pau acon_c --merge   # time only these; replace their rows in the JSON
    python benchmarks/activations.py --reduction-error --names    # only the rational backward's float32 sum error

Timing (``mixact_lib.studies.timing``, the harness every speed figure uses): every (activation,
implementation) pair and the ReLU baseline run once per round, in a shuffled order, each right after
one untimed warm call, for many rounds; the figure is the median time over rounds divided by ReLU's
median (the minimum over rounds is recorded too). Each run records ReLU's time in ms, the load average
and how many cores other processes held meanwhile, ``loaded`` when that was over 0.25. Modules are in
training mode (as in training: RReLU draws random slopes); ``adact`` is also timed in eval mode.

Before measuring, the machine is watched for 2 s; if other processes hold more than 0.25 cores, the busiest
are named (and ``--require-quiet`` exits with status 3). The README tables come only from quiet runs: a
loaded JSON, or one without a load record, is refused unless ``--allow-loaded``, and then labelled.

Memory: bytes saved for backward, counted with
``torch.autograd.graph.saved_tensors_hooks`` over distinct storages, per byte of
input (ReLU saves its output: 1.0).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from mixact_lib.activations import available_activations, fast_core, fast_native, has_fast, make_activation
from mixact_lib.studies import machine, timing

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "bench"
README = Path(__file__).resolve().parent / "README.md"
RELU = ("relu", "F.relu", "eager", "train")  # the baseline's key among the timed steps


def _step(module, x, g):
    def run():
        module(x).backward(g)
        x.grad = None
        for p in module.parameters():
            p.grad = None
    return run


def configs(names, with_compile):
    """(label, name, impl, backend, mode) rows to time."""
    out = []
    for name in names:
        modes = ("train", "eval") if name == "adact" else ("train",)
        for mode in modes:
            out.append((name, "reference", "eager", mode))
            if has_fast(name):
                if name in fast_native.ACTIVATIONS:
                    out.append((name, "fast", "native", mode))
                out.append((name, "fast", "eager", mode))
                if with_compile:
                    out.append((name, "fast", "compile", mode))
    return out


def bench_device(device: torch.device, dtype: torch.dtype, shape, rounds: int, names, with_compile: bool,
                 cache_state: str = "?") -> dict:
    torch.manual_seed(0)
    x = torch.randn(shape, device=device, dtype=dtype).requires_grad_()
    g = torch.randn_like(x)
    input_bytes = x.numel() * x.element_size()
    sync = timing.synchronizer(device)

    def relu_step():
        F.relu(x).backward(g)
        x.grad = None

    rows, steps = [], {RELU: relu_step}
    try:
        for name, impl, backend, mode in configs(names, with_compile):
            module = make_activation(name, impl=impl).to(device=device, dtype=dtype)
            module.train(mode == "train")
            key = (name, impl, backend, mode)
            fast_core.set_fast_backend(backend)
            steps[key] = _step(module, x, g)
            first_call = timing.first_call_seconds(steps[key], sync)  # compiles under the compile backend
            saved = timing.saved_bytes(module, x.detach().requires_grad_()) / input_bytes
            rows.append({"activation": name, "impl": impl, "backend": backend, "mode": mode,
                         "first_call_s": first_call, "saved_per_input_byte": saved})
        timings = timing.time_rounds(steps, rounds, sync=sync,
                                     before=lambda key: fast_core.set_fast_backend(key[2]))
    finally:
        fast_core.set_fast_backend("auto")
    relu = timings.summary(RELU, RELU)
    for row in rows:
        s = timings.summary((row["activation"], row["impl"], row["backend"], row["mode"]), RELU)
        row.update(ms=s["ms"], ms_min=s["ms_min"], ratio_to_relu=s["ratio"])
    relu_saved = timing.saved_bytes(F.relu, x.detach().requires_grad_()) / input_bytes
    return {
        "device": str(device), "device_name": _device_name(device), "dtype": str(dtype).replace("torch.", ""),
        "shape": list(shape), "rounds": rounds, "threads": torch.get_num_threads(),
        "relu_ms": relu["ms"], "relu_ms_min": relu["ms_min"], "relu_saved_per_input_byte": relu_saved,
        "compile_seconds": dict(fast_core.compile_seconds), "inductor_cache": cache_state,
        "load": timings.load, "loaded": timings.load["loaded"], "rows": rows,
    }


def _device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


_COST_SCRIPT = r"""
import json, time
t0 = time.perf_counter()
import torch
from mixact_lib.activations import make_activation
torch.set_num_threads(1)
x = torch.randn(64, 32, 28, 28, requires_grad=True)
out = {"import_s": time.perf_counter() - t0}
for label, name, train in [("adact_train_s", "adact", True), ("adact_eval_s", "adact", False), ("mix_s", "mix", True)]:
    m = make_activation(name).train(train)
    start = time.perf_counter()
    m(x).sum().backward()
    out[label] = time.perf_counter() - start
print(json.dumps(out))
"""


def _fresh_process(env: dict) -> dict:
    """The seconds :data:`_COST_SCRIPT` reports from a fresh Python process with ``env``."""
    proc = subprocess.run([sys.executable, "-c", _COST_SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compile_cost() -> dict:
    """First-step seconds of adact (train, then eval) and mix in fresh processes, per backend.

    The compile backend runs twice on one empty inductor cache folder: "cold" is a fresh machine (gcc
    compiles every kernel), "warm" a later process on the same machine; the native backend likewise on an
    empty kernel cache (it builds once), then a filled one; eager once.
    """
    out = {}
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as cache:
        env = {**base, "TORCHINDUCTOR_CACHE_DIR": cache, "MIXACT_FAST_BACKEND": "compile"}
        for state in ("cold", "warm"):
            out[state] = _fresh_process(env)
    out["eager"] = _fresh_process({**base, "MIXACT_FAST_BACKEND": "eager"})
    with tempfile.TemporaryDirectory() as cache:
        env = {**base, "MIXACT_FAST_BACKEND": "native", "MIXACT_CACHE_DIR": cache}
        for state in ("native_fill", "native_warm"):
            out[state] = _fresh_process(env)
    return out


# ------------------------------------------------------------------ reporting


def markdown(result: dict) -> str:
    """One markdown table per (device, dtype) run: time ratio to ReLU and saved bytes, impls side by side."""
    lines = []
    for run in result["runs"]:
        repeats = run.get("repeats", 1)
        lines.append(f"**{run['device']} {run['dtype']}**, tensor {'×'.join(map(str, run['shape']))}, "
                     f"{run['threads']} thread(s), median of {run['rounds']} rounds"
                     + (f", whole measurement repeated {repeats}× (median, and min–max over repeats)" if repeats > 1
                        else "") + "; "
                     f"ReLU forward+backward = {timing.ms_phrase(run['relu_ms'], run.get('relu_ms_min'))}, "
                     f"saves {run['relu_saved_per_input_byte']:.2f} B/B; "
                     f"{machine.allocator_phrase(result.get('holds_freed_memory'))}. {machine.load_sentence(run)}")
        lines.append("")
        fast_rows = [r for r in run["rows"] if r["impl"] == "fast"]
        backends = [b for b in ("native", "eager", "compile") if any(r["backend"] == b for r in fast_rows)]
        cols = ["reference"] + [f"fast ({b})" for b in backends]
        lines.append("| activation | mode | " + " | ".join(f"{c} × ReLU" for c in cols) + " | "
                     + " | ".join(f"{c} saved B/B" for c in cols[:2]) + " |")
        lines.append("|" + " --- |" * (2 + len(cols) + min(2, len(cols))))
        table: dict[tuple, dict] = {}
        for r in run["rows"]:
            col = "reference" if r["impl"] == "reference" else f"fast ({r['backend']})"
            table.setdefault((r["activation"], r["mode"]), {})[col] = r
        for (name, mode), cells in table.items():
            ratios = [_ratio(cells[c]) if c in cells else "–" for c in cols]
            saved = [f"{cells[c]['saved_per_input_byte']:.2f}" if c in cells else "–" for c in cols[:2]]
            lines.append(f"| {name} | {mode} | " + " | ".join(ratios) + " | " + " | ".join(saved) + " |")
        note = _fixed_note(table)
        if note:
            lines += ["", note]
        if run.get("merged"):
            lines.append("")
            lines += _merged_notes(run)[:-1]
        if run.get("compile_seconds"):
            total = sum(run["compile_seconds"].values())
            lines.append("")
            lines.append(f"Compile time of the `compile` backend in this process ({run.get('inductor_cache', '?')} "
                         f"inductor cache at start): {total:.1f} s in all — "
                         + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(run["compile_seconds"].items())) + ".")
        lines.append("")
    if result.get("compile_cost"):
        lines.append("First forward+backward in a fresh process (64×32×28×28, seconds; adact in training mode, "
                     "then eval mode, then mix): each backend's one-off cost.")
        lines.append("")
        lines.append("| backend, inductor cache | import | adact (train) | adact (eval) | mix | total |")
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for state, label in [("cold", "compile, cold (fresh machine)"), ("warm", "compile, warm (later process)"),
                             ("native_fill", "native, empty cache (builds the kernels once per machine)"),
                             ("native_warm", "native, filled cache (the CPU default)"),
                             ("eager", "eager (the fallback)")]:
            if state not in result["compile_cost"]:
                continue
            c = result["compile_cost"][state]
            total = c["adact_train_s"] + c["adact_eval_s"] + c["mix_s"]
            lines.append(f"| {label} | {c['import_s']:.1f} | {c['adact_train_s']:.1f} | {c['adact_eval_s']:.1f} | "
                         f"{c['mix_s']:.1f} | {total:.1f} |")
        lines.append("")
    return "\n".join(lines)


def _fixed_note(table: dict) -> str:
    """One sentence on torch's own fixed kernels beside the fused mixture that contains one of them."""
    fixed = [(name, table[(name, "train")]["reference"]["ratio_to_relu"]) for name in ("mish", "tanh", "sin")
             if "reference" in table.get((name, "train"), {})]
    fused = next((cells[c]["ratio_to_relu"] for (name, mode), cells in table.items() if (name, mode) == ("adact", "train")
                  for c in ("fast (native)", "fast (compile)", "fast (eager)") if c in cells), None)
    if not fixed or fused is None:
        return ""
    return ("Torch's own fixed kernels in the same run: " + ", ".join(f"{n} {r:.2f}×" for n, r in fixed)
            + f" ReLU's time. The fused AdAct (training mode, the CPU default path), which computes a Mish among "
            f"its seven members, takes {fused:.2f}×" + (" — less than torch's Mish alone." if dict(fixed).get("mish", 0)
                                                        > fused else "."))


def _merged_notes(run: dict) -> list[str]:
    """A sentence per later run merged into this one (``--merge``): which rows, when, against which ReLU."""
    lines = []
    for m in run.get("merged", []):
        lines.append(f"Rows of {', '.join(m['names'])}: measured later ({m['date']}), in a run of their own with "
                     f"{m['threads']} thread(s), median of {m['rounds']} rounds, repeated {m['repeats']}×; "
                     f"each ratio is to that run's own ReLU ({timing.ms_phrase(m['relu_ms'], m.get('relu_ms_min'))}; "
                     f"{machine.allocator_phrase(m.get('holds_freed_memory'))})"
                     + (f"; its `compile` backend compiled for {sum(m['compile_seconds'].values()):.1f} s — "
                        + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(m["compile_seconds"].items()))
                        if m.get("compile_seconds") else "") + f". {machine.load_sentence(m)}")
        lines.append("")
    return lines


def merge_into(old: dict, new: dict, names: list[str]) -> dict:
    """``old`` with the rows of ``names`` replaced by ``new``'s (runs matched by device, dtype and shape).

    Ratios stay within-run: a merged row is a ratio to the ReLU of the run it was measured in, recorded
    under the run's ``merged`` list (the README says so under the table).
    """
    return timing.merge_into(old, new, names, match=("device", "dtype", "shape"),
                             row_extra=lambda run, row: {"relu_ms": run["relu_ms"]},
                             note_extra=lambda run: {"relu_ms": run["relu_ms"], "relu_ms_min": run.get("relu_ms_min"),
                                                     "compile_seconds": run.get("compile_seconds", {})},
                             carry=("reduction_error",))


def reduction_error_table() -> dict:
    """The rational backward's float32 coefficient-gradient error (``fast_rational.reduction_error``) per layout."""
    from mixact_lib.activations.fast_rational import reduction_error

    shape = (64, 32, 28, 28)
    fast_core.set_fast_backend("native")
    try:
        cases = {"one set (pau)": 1, "8 groups (kat_rational)": 8, "one set per channel (32 groups)": 32}
        errors = {label: reduction_error(shape, groups=groups) for label, groups in cases.items()}
    finally:
        fast_core.set_fast_backend("auto")
    return {"shape": list(shape), "path": fast_core.fast_path("cpu"), "errors": errors}


def reduction_markdown(table: dict) -> str:
    shape = "×".join(map(str, table["shape"]))
    lines = [f"Float32 coefficient gradients of the fused rational backward ({table['path']} path), against the "
             f"same sums in float64 on the same float32 input ({shape}, standard normal input and upstream "
             "gradient, default leaky-ReLU init): max over coefficients of |error| / Σ|g·∂y/∂c|.", "",
             "| coefficient layout | max relative error |", "| --- | --- |"]
    lines += [f"| {label} | {err:.1e} |" for label, err in table["errors"].items()]
    return "\n".join(lines) + "\n"


def _ratio(row: dict) -> str:
    """A ratio as the tables show it: the median, and the range over repeats when there were several."""
    text = f"{row['ratio_to_relu']:.2f}"
    if row.get("ratio_min") is not None and row.get("ratio_max") is not None and row["ratio_max"] > row["ratio_min"]:
        text += f" ({row['ratio_min']:.2f}–{row['ratio_max']:.2f})"
    return text


def merge_repeats(runs: list[dict]) -> dict:
    """One run from several repeats of the same measurement: median ratio per row, with its min and max."""
    return timing.merge_repeats(runs, "ratio_to_relu", "ratio_min", "ratio_max", medians=("ms",),
                                minima=("ms_min",), run_medians=("relu_ms",), run_minima=("relu_ms_min",))


def readme_from_json(allow_loaded: bool = False, results: Path = RESULTS, readme: Path = README) -> int:
    """Rebuild the README's tables from ``results``' JSON: quiet runs only, unless ``allow_loaded``.

    Returns how many tables were refused (their blocks are left as they were). The rational backward's
    reduction error is an accuracy figure, not a time, and is filled whatever the load.
    """
    refused = 0
    for path in sorted(results.glob("activations-*.json")):
        key = path.stem  # activations-cpu, activations-cuda
        result = json.loads(path.read_text())
        source = timing.shown(path, ROOT)
        if timing.update_measured_block(readme, key, result, markdown(result), source, allow_loaded):
            print(f"updated {readme.name} block {key} from {source}")
        else:
            refused += 1
        if "reduction_error" in result:
            timing.update_block(readme, "reduction-error", reduction_markdown(result["reduction_error"]))
            print(f"updated {readme.name} block reduction-error from {source}")
    return refused


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="all: CPU, plus CUDA when available (default)")
    parser.add_argument("--quick", action="store_true", help="smoke run: small tensor, 5 rounds, no JSON unless --out")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds (default 30 CPU, 50 CUDA)")
    parser.add_argument("--shape", type=int, nargs="+", default=[64, 32, 28, 28], help="CPU tensor shape")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: on a shared 2-core box, 2 threads time the neighbours)")
    parser.add_argument("--names", nargs="*", default=None,
                        help="activations to time (default: all; none at all: only --reduction-error)")
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile fast backend")
    parser.add_argument("--compile-cost", action="store_true",
                        help="also time the compile backend's first step in fresh processes (cold and warm cache)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat the whole measurement; report the median ratio and its range (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for activations-<device>[-t<threads>].json")
    parser.add_argument("--hold-freed-memory", action="store_true",
                        help="restart with GLIBC_TUNABLES set so that glibc keeps freed buffers (recorded in the JSON)")
    parser.add_argument("--update-readme", action="store_true",
                        help="only rebuild README tables from the JSON (quiet runs only, see --allow-loaded)")
    timing.add_load_arguments(parser)
    parser.add_argument("--merge", action="store_true",
                        help="keep the JSON's other activations: replace only the rows of --names (needs --names)")
    parser.add_argument("--reduction-error", action="store_true",
                        help="also measure the rational backward's float32 reduction error (CPU JSON and README)")
    args = parser.parse_args(argv)
    if args.allow_loaded and not args.update_readme:
        parser.error("--allow-loaded decides which runs may fill the README: give it with --update-readme")
    if args.update_readme:
        if readme_from_json(args.allow_loaded, RESULTS, README):
            raise SystemExit(1)
        return
    if args.merge and not args.names:
        parser.error("--merge replaces the rows of the activations given with --names; give --names")
    if args.hold_freed_memory:  # glibc reads its tunables at start only
        machine.restart_holding_freed_memory([__file__, *(sys.argv[1:] if argv is None else argv)])
    load_before = machine.check_before_measuring(args.require_quiet)
    torch.set_num_threads(args.threads)
    names = available_activations() if args.names is None else args.names
    cache_state = machine.inductor_cache_state()  # before this process compiles anything
    for dev in timing.devices_for(args.device):
        device = torch.device(dev)
        if dev == "cpu":
            plan = [(torch.float32, tuple(args.shape))]
        else:
            plan = [(torch.float32, (64, 64, 128, 128)), (torch.bfloat16, (64, 64, 128, 128))]  # 2^26 elements
        if args.quick:
            plan = [(dt, (8, 16, 16, 16)) for dt, _ in plan[:1]]
        rounds = args.rounds or (5 if args.quick else 30 if dev == "cpu" else 50)
        result = machine.result_header(load_before=load_before)
        for dtype, shape in plan:
            if not names:  # --names with no names: only the extra measurements below
                break
            repeats = [bench_device(device, dtype, shape, rounds, names, args.compile, cache_state)
                       for _ in range(args.repeats)]
            result["runs"].append(merge_repeats(repeats))
        if args.compile_cost and dev == "cpu":
            result["compile_cost"] = compile_cost()
        if args.reduction_error and dev == "cpu":
            result["reduction_error"] = reduction_error_table()
            print(reduction_markdown(result["reduction_error"]))
        print(markdown(result))
        suffix = f"-t{args.threads}" if dev == "cpu" and args.threads != 1 else ""
        name = f"activations-{dev}{suffix}"
        existing = args.out / f"{name}.json"
        if (args.merge or not names) and existing.exists():
            result = merge_into(json.loads(existing.read_text()), result, names)
        result["loaded"] = machine.result_loaded(result)
        timing.write_result(result, args.out, RESULTS, name, args.quick)


if __name__ == "__main__":
    main()
