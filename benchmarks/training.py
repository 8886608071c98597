"""Training throughput of the paper nets with each activation, as a ratio to the same net with ReLU.

    python benchmarks/training.py                  # CPU (and CUDA if present), writes results/bench/
    python benchmarks/training.py --quick          # smoke run
    python benchmarks/training.py --compile        # add the torch.compile fast backend
    python benchmarks/training.py --repeats 3      # the whole measurement three times: median and range
    python benchmarks/training.py --require-quiet  # exit with status 3 instead of measuring on a busy machine
    python benchmarks/training.py --update-readme  # rebuild benchmarks/README.md tables from quiet runs' JSON
    python benchmarks/training.py --update-readme --allow-loaded  # also from loaded runs, labelled as such
    python benchmarks/training.py --names pau --merge   # time only these (with the ReLU twins); replace their rows

A step is a full training step on an in-memory random batch (batch 64):
forward, cross-entropy, backward, AdamW update. Timing is ``mixact_lib.studies.timing``'s
harness: each round times one step of every (net, activation, implementation) in a shuffled
order, each right after one untimed step; images/s is the batch over the median step time (the
minimum is recorded too), and each run records how many cores other processes held meanwhile
(``loaded`` over 0.25). Peak memory (``torch.cuda.max_memory_allocated``) is recorded on CUDA.
As in ``activations.py``, the machine is watched for 2 s first (``--require-quiet``: exit with status 3 if
busy), and the README tables come only from quiet runs unless ``--allow-loaded``, which labels them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from mixact_lib.activations import fast_core, fast_native, has_fast, use_reference
from mixact_lib.models import build_model
from mixact_lib.studies import machine, timing

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "bench"
README = Path(__file__).resolve().parent / "README.md"
#: (net, its paper's learnable activation(s)); every net is also timed with ReLU, its twin
NETS = {
    "paper_c_convnet": ["adact", "pau", "kat_rational", "acon_c"],  # issue 19's three: every width divides by 8
    "paper_a_net": ["mix"],
}


def configs(nets, with_compile):
    out = []
    for net, activations in nets.items():
        out.append((net, "relu", "reference", "eager"))
        for act in activations:
            out.append((net, act, "reference", "eager"))
            if has_fast(act):
                if act in fast_native.ACTIVATIONS:
                    out.append((net, act, "fast", "native"))
                out.append((net, act, "fast", "eager"))
                if with_compile:
                    out.append((net, act, "fast", "compile"))
    return out


def make_step(net, activation, impl, device, batch, image_size, in_channels, num_classes):
    torch.manual_seed(0)
    with use_reference(impl == "reference"):
        model = build_model(net, num_classes=num_classes, in_channels=in_channels, activation=activation,
                            image_size=image_size).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, in_channels, *image_size, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def bench_device(device, rounds, nets, with_compile, batch=64, cache_state="?"):
    steps, first_call, peak = {}, {}, {}
    sync = timing.synchronizer(device)
    try:
        for key in configs(nets, with_compile):
            net, act, impl, backend = key
            fast_core.set_fast_backend(backend)
            step = make_step(net, act, impl, device, batch, (28, 28), 1, 10)
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
            first_call[key] = timing.first_call_seconds(step, sync)
            if device.type == "cuda":
                step()
                sync()
                peak[key] = torch.cuda.max_memory_allocated(device)
            steps[key] = step
        timings = timing.time_rounds(steps, rounds, sync=sync, before=lambda key: fast_core.set_fast_backend(key[3]))
    finally:
        fast_core.set_fast_backend("auto")
    rows = []
    for key in steps:
        net, act, impl, backend = key
        twin = (net, "relu", "reference", "eager")
        s = timings.summary(key, twin)
        row = {"net": net, "activation": act, "impl": impl, "backend": backend, "step_ms": s["ms"],
               "step_ms_min": s["ms_min"], "images_per_s": batch / s["ms"] * 1e3, "first_step_s": first_call[key],
               "peak_memory_mb": peak[key] / 2**20 if key in peak else None,
               "throughput_vs_relu": 1 / s["ratio"]}  # images/s over the twin's: the inverse of the time ratio
        if key in peak:
            row["memory_vs_relu"] = peak[key] / peak[twin]
        rows.append(row)
    return {"device": str(device), "batch": batch, "rounds": rounds, "threads": torch.get_num_threads(),
            "compile_seconds": dict(fast_core.compile_seconds), "inductor_cache": cache_state,
            "load": timings.load, "loaded": timings.load["loaded"], "rows": rows}


def markdown(result: dict) -> str:
    lines = []
    for run in result["runs"]:
        cuda = run["device"].startswith("cuda")
        repeats = run.get("repeats", 1)
        lines.append(f"**{run['device']}**, batch {run['batch']}, {run['threads']} thread(s), "
                     f"median of {run['rounds']} rounds"
                     + (f", whole measurement repeated {repeats}× (× ReLU twin: median, and min–max over repeats)"
                        if repeats > 1 else "") + f"; ReLU twin step: {_twin_phrase(run['rows'])}; "
                     f"{machine.allocator_phrase(result.get('holds_freed_memory'))}. {machine.load_sentence(run)}")
        lines.append("")
        head = "| net | activation | impl | step ms | images/s | × ReLU twin |"
        lines.append(head + (" peak MB | memory × ReLU |" if cuda else ""))
        lines.append("|" + " --- |" * (6 + (2 if cuda else 0)))
        for r in run["rows"]:
            impl = r["impl"] if r["impl"] == "reference" or r["activation"] == "relu" else f"fast ({r['backend']})"
            line = (f"| {r['net']} | {r['activation']} | {impl} | {r['step_ms']:.1f} | "
                    f"{r['images_per_s']:.0f} | {_span(r, 'throughput_vs_relu')} |")
            if cuda:
                line += f" {r['peak_memory_mb']:.0f} | {r['memory_vs_relu']:.2f} |"
            lines.append(line)
        for m in run.get("merged", []):
            twins = "; ".join(f"{net} {timing.ms_phrase(ms, m.get('twin_step_ms_min', {}).get(net), 1)}"
                              for net, ms in m["twin_step_ms"].items())
            lines.append("")
            lines.append(f"Rows of {', '.join(m['names'])}: measured later ({m['date']}), in a run of their own with "
                         f"{m['threads']} thread(s), median of {m['rounds']} rounds, repeated {m['repeats']}×; "
                         f"× ReLU twin is to that run's own twin step ({twins}; "
                         f"{machine.allocator_phrase(m.get('holds_freed_memory'))}). {machine.load_sentence(m)}")
        if run.get("compile_seconds"):
            lines.append("")
            lines.append(f"Compile time of the `compile` backend in this process ({run.get('inductor_cache', '?')} "
                         f"inductor cache at start): {sum(run['compile_seconds'].values()):.1f} s.")
        lines.append("")
    return "\n".join(lines)


def _span(row: dict, key: str) -> str:
    """A ratio with its range over repeats, when the measurement was repeated."""
    text = f"{row[key]:.2f}"
    lo, hi = row.get(key + "_min"), row.get(key + "_max")
    return text + (f" ({lo:.2f}–{hi:.2f})" if lo is not None and hi is not None and hi > lo else "")


def _twins(run: dict, key: str = "step_ms") -> dict:
    """Each net's ReLU twin step time (ms; ``key="step_ms_min"``: its minimum) in a run."""
    return {r["net"]: r.get(key) for r in run["rows"] if r["activation"] == "relu"}


def _twin_phrase(rows: list[dict]) -> str:
    """Each net's ReLU twin step, median and minimum, for a table's first line."""
    return "; ".join(f"{r['net']} {timing.ms_phrase(r['step_ms'], r.get('step_ms_min'), 1)}"
                     for r in rows if r["activation"] == "relu")


def _after_its_net(rows: list[dict], row: dict) -> int:
    return max(i for i, old in enumerate(rows) if old["net"] == row["net"]) + 1


def merge_into(old: dict, new: dict, names: list[str]) -> dict:
    """``old`` with the rows of ``names`` replaced by ``new``'s; each keeps its ratio to its own run's ReLU twin."""
    return timing.merge_into(old, new, names, match=("device",),
                             row_extra=lambda run, row: {"twin_step_ms": _twins(run)[row["net"]]},
                             note_extra=lambda run: {"twin_step_ms": _twins(run),
                                                     "twin_step_ms_min": _twins(run, "step_ms_min")},
                             place=_after_its_net)


def merge_repeats(runs: list[dict]) -> dict:
    """One run from several repeats: median throughput ratio per row, with its min and max."""
    return timing.merge_repeats(runs, "throughput_vs_relu", "throughput_vs_relu_min", "throughput_vs_relu_max",
                                medians=("step_ms", "images_per_s"), minima=("step_ms_min",))


#: issue 31's targets on the CPU default path, 1 thread, quiet machine: (label, file, selector, threshold, "max"
#: or "min"); the last row is issue 17's
TARGETS = [
    ("adact forward+backward (training mode) ≤ 3× ReLU", "activations", ("adact", "train"), 3.0, "max"),
    ("adact forward+backward (eval mode) ≤ 2.5× ReLU", "activations", ("adact", "eval"), 2.5, "max"),
    ("mix (relu/tanh/sin) forward+backward ≤ 2.5× ReLU", "activations", ("mix", "train"), 2.5, "max"),
    *[(f"{name} forward+backward ≤ 1.6× ReLU", "activations", (name, "train"), 1.6, "max")
      for name in ("arelu", "asigmoid", "atanh", "prelu", "swish_beta", "pelu", "frelu")],
    *[(f"{name} forward+backward ≤ 1.8× ReLU", "activations", (name, "train"), 1.8, "max")
      for name in ("pau", "kat_rational", "acon_c")],
    ("saved for backward ≤ 1 input-sized tensor (worst fast activation, B/B)", "saved", None, 1.01, "max"),
    ("paper C ConvNet + adact training throughput ≥ 0.90× ReLU twin", "training", ("paper_c_convnet", "adact"),
     0.90, "min"),
    ("paper A net + mix training throughput ≥ 0.92× ReLU twin", "training", ("paper_a_net", "mix"), 0.92, "min"),
    *[(f"paper C ConvNet + {name} training throughput ≥ 0.93× ReLU twin", "training", ("paper_c_convnet", name),
       0.93, "min") for name in ("pau", "kat_rational", "acon_c")],
    ("first adact forward+backward in a fresh process, kernels cached ≤ 1 s (issue 17)", "first", "native_warm",
     1.0, "max"),
]


def targets_markdown(activations: dict, training: dict) -> str:
    """The issue's targets against the measured CPU numbers: the default path (native for the mixtures,
    eager for the rest), the eager path and the compile backend side by side."""
    act_rows, train_rows = activations["runs"][0]["rows"], training["runs"][0]["rows"]

    def value(kind, sel, backend):
        if backend == "default":
            return value(kind, sel, "native") if value(kind, sel, "native") is not None else value(kind, sel, "eager")
        if kind == "activations":
            rows = [r for r in act_rows if (r["activation"], r["mode"]) == sel]
            rows = [r["ratio_to_relu"] for r in rows if r["impl"] == "fast" and r["backend"] == backend]
        elif kind == "saved":
            rows = [max((r["saved_per_input_byte"] for r in act_rows if r["impl"] == "fast"
                         and r["backend"] == backend), default=None)]
            rows = [r for r in rows if r is not None]
        elif kind == "first":
            cost = activations.get("compile_cost", {})
            state = {"native": "native_warm", "eager": "eager", "compile": "warm"}[backend]
            rows = [cost[state]["adact_train_s"]] if state in cost else []
        else:
            rows = [r["throughput_vs_relu"] for r in train_rows if (r["net"], r["activation"]) == sel
                    and r["impl"] == "fast" and r["backend"] == backend]
        return rows[0] if rows else None

    lines = ["| target | fast, CPU default (native) | fast (eager) | fast (compile) |",
             "| --- | --- | --- | --- |"]
    for label, kind, sel, limit, sense in TARGETS:
        cells = []
        for backend in ("default", "eager", "compile"):
            v = value(kind, sel, backend)
            ok = v is not None and (v <= limit if sense == "max" else v >= limit)
            cells.append("–" if v is None else f"{v:.2f} {'met' if ok else 'missed'}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    act_run, train_run = activations["runs"][0], training["runs"][0]
    lines += ["", f"From `activations-cpu.json` ({act_run['threads']} thread(s); ReLU forward+backward "
              f"{timing.ms_phrase(act_run['relu_ms'], act_run.get('relu_ms_min'))}; "
              f"{machine.allocator_phrase(activations.get('holds_freed_memory'))}; {_load_phrase(act_run)}) and "
              f"`training-cpu.json` ({train_run['threads']} thread(s); ReLU twin step {_twin_phrase(train_rows)}; "
              f"{machine.allocator_phrase(training.get('holds_freed_memory'))}; {_load_phrase(train_run)})."]
    return "\n".join(lines) + "\n"


def _load_phrase(run: dict) -> str:
    """:func:`mixact_lib.studies.machine.load_sentence` as a clause: lower case, no full stop."""
    sentence = machine.load_sentence(run).rstrip(".")
    return sentence[0].lower() + sentence[1:]


def readme_from_json(allow_loaded: bool = False, results: Path = RESULTS, readme: Path = README) -> int:
    """Rebuild the README's training tables and the targets table from ``results``' JSON: quiet runs only,
    unless ``allow_loaded``. Returns how many tables were refused (their blocks are left as they were)."""
    refused = 0
    for path in sorted(results.glob("training-*.json")):
        result = json.loads(path.read_text())
        if timing.update_measured_block(readme, path.stem, result, markdown(result), timing.shown(path, ROOT),
                                        allow_loaded):
            print(f"updated {readme.name} block {path.stem} from {timing.shown(path, ROOT)}")
        else:
            refused += 1
    acts, train = results / "activations-cpu.json", results / "training-cpu.json"
    if acts.exists() and train.exists():
        acts, train = json.loads(acts.read_text()), json.loads(train.read_text())
        both = {"runs": acts["runs"][:1] + train["runs"][:1]}  # the runs the targets table reads
        if timing.update_measured_block(readme, "targets-cpu", both, targets_markdown(acts, train),
                                        f"{timing.shown(results / 'activations-cpu.json', ROOT)} or training-cpu.json",
                                        allow_loaded):
            print(f"updated {readme.name} block targets-cpu")
        else:
            refused += 1
    return refused


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 rounds, no JSON unless --out")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds (default 15 CPU, 30 CUDA)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1, see activations.py)")
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile fast backend")
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat the whole measurement; report the median ratio and its range (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for training-<device>[-t<threads>].json")
    parser.add_argument("--hold-freed-memory", action="store_true",
                        help="restart with GLIBC_TUNABLES set so that glibc keeps freed buffers (recorded in the JSON)")
    parser.add_argument("--update-readme", action="store_true",
                        help="only rebuild README tables from the JSON (quiet runs only, see --allow-loaded)")
    timing.add_load_arguments(parser)
    parser.add_argument("--names", nargs="+", default=None,
                        help="time only these activations (with each net's ReLU twin); default: every one in NETS")
    parser.add_argument("--merge", action="store_true",
                        help="keep the JSON's other rows: replace only the rows of --names (needs --names)")
    args = parser.parse_args(argv)
    if args.merge and not args.names:
        parser.error("--merge replaces the rows of the activations given with --names; give --names")
    nets = {net: [a for a in acts if args.names is None or a in args.names] for net, acts in NETS.items()}
    nets = {net: acts for net, acts in nets.items() if acts}
    if args.allow_loaded and not args.update_readme:
        parser.error("--allow-loaded decides which runs may fill the README: give it with --update-readme")
    if args.update_readme:
        if readme_from_json(args.allow_loaded, RESULTS, README):
            raise SystemExit(1)
        return
    if args.hold_freed_memory:  # glibc reads its tunables at start only
        machine.restart_holding_freed_memory([__file__, *(sys.argv[1:] if argv is None else argv)])
    load_before = machine.check_before_measuring(args.require_quiet)
    torch.set_num_threads(args.threads)
    cache_state = machine.inductor_cache_state()  # before this process compiles anything
    for dev in timing.devices_for(args.device):
        device = torch.device(dev)
        rounds = args.rounds or (2 if args.quick else 15 if dev == "cpu" else 30)
        result = machine.result_header(load_before=load_before)
        result["runs"].append(merge_repeats([bench_device(device, rounds, nets, args.compile, cache_state=cache_state)
                                             for _ in range(args.repeats)]))
        print(markdown(result))
        suffix = f"-t{args.threads}" if dev == "cpu" and args.threads != 1 else ""
        name = f"training-{dev}{suffix}"
        if args.merge and (args.out / f"{name}.json").exists():
            result = merge_into(json.loads((args.out / f"{name}.json").read_text()), result, args.names)
        result["loaded"] = machine.result_loaded(result)
        timing.write_result(result, args.out, RESULTS, name, args.quick)


if __name__ == "__main__":
    main()
