"""Where the time goes: each kernel pass against the machine's peaks, and each paper net's training step by group.

    python benchmarks/breakdown.py --hold-freed-memory --require-quiet   # measure (CPU, 1 thread), write JSON
    python benchmarks/breakdown.py --quick                                # smoke run: small, no JSON unless --out
    python benchmarks/breakdown.py --update-readme                        # rebuild the README's profile tables

Part 1 (``mixact_lib.studies.profiles.pass_times``): the forward and the backward pass of ReLU, AdAct (training
and eval) and mix, timed separately on one float32 tensor (default 64×32×28×28, the activation benchmark's),
each visit right after an untimed one, in shuffled rounds. Each pass is shown as time, cycles per element at
the nominal clock, GB/s against the bandwidth of one thread copying a tensor of the same size (measured in the
same run; a 256 MiB copy gives main memory's), and GFLOP/s
against the nominal arithmetic peak (clock × vector lanes × 2 FMA units × 2 flops: the FMA-unit count is an
assumption, stated with the table). The arithmetic per element is counted from the kernel source
(``PASS_COUNTS`` in that module).

The column "in cache" comes from ``benchmarks/native/cycles.cpp``: the same kernel source compiled alone
(no torch, no Python) with the same flags, run on 2^16 elements that stay in L2 (``profiles.in_cache_ns``; needs
g++). The gap between the two columns is what moving the tensor through memory adds to the arithmetic.

Part 2 (``step_breakdowns``): training steps of each paper net with its learnable activation and with ReLU,
under ``torch.profiler``, in 5 blocks of 4 steps per net, the nets in shuffled order in each block (a group's
figure is its median over blocks); each operator's own time goes into a group (activation, convolution, BatchNorm,
pooling, linear, optimizer, other), and the table shows what the learnable net adds, group by group.

Part 3 (``pool_after``), a control for part 2: one max-pool forward after ReLU, ReLU + 0.01, torch's tanh,
AdAct and the identity, to tell whether pooling costs more after a learnable activation because of the
activation or because of what its output looks like.

The machine's load is recorded as in the other scripts; the README takes only quiet runs (``--allow-loaded``
labels a loaded one).
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import torch

from mixact_lib.studies import machine, profiles, timing

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "bench"
README = Path(__file__).resolve().parent / "README.md"
PASSES = [("relu", "train"), ("adact", "train"), ("adact", "eval"), ("mix", "train")]
NETS = [("paper_c_convnet", "adact"), ("paper_a_net", "mix")]


def measure(shape, rounds: int, steps: int) -> dict:
    ghz = profiles.nominal_ghz()
    peak = profiles.machine_peak(ghz)
    elements = math.prod(shape)
    bandwidth = profiles.copy_bandwidth(elements)
    memory = profiles.copy_bandwidth((8 if steps < 3 else 256) << 18)
    # before the load window: the harness is a child process, whose CPU time would read as another's load
    in_cache = profiles.in_cache_ns(Path(__file__).resolve().parent / "native" / "cycles.cpp",
                                    reps=20 if steps < 3 else 200)
    start = machine.cpu_sample()
    seconds = profiles.pass_times(PASSES, shape, rounds=rounds)
    passes = []
    for (name, mode, direction), times in seconds.items():
        counts = profiles.PASS_COUNTS[(profiles.counted(name, mode), direction)]
        median, best = statistics.median(times), min(times)
        ns = None if in_cache is None else in_cache.get((profiles.counted(name, mode), direction))
        passes.append({"activation": name, "mode": mode, "pass": direction, "ms": median * 1e3,
                       "ms_min": best * 1e3, **counts,
                       **profiles.rates(median, elements, counts, ghz, peak["gflops"], bandwidth),
                       "in_cache_ns_per_element": ns,
                       "in_cache_cycles_per_element": None if ns is None or ghz is None else ns * ghz})
    nets = profiles.step_breakdowns([(net, act) for net, activation in NETS for act in ("relu", activation)],
                                    steps=steps, blocks=1 if steps < 3 else 5)
    pools = profiles.pool_after(shape, rounds=rounds)
    pool = {name: {"ms": statistics.median(t) * 1e3, "ms_min": min(t) * 1e3} for name, t in pools.items()}
    load = machine.load_between(start, machine.cpu_sample())
    return {"device": "cpu", "threads": torch.get_num_threads(), "shape": list(shape), "rounds": rounds,
            "peak": peak, "copy_bandwidth_gb_per_s": bandwidth,
            "memory_bandwidth_gb_per_s": memory, "passes": passes, "nets": nets, "pool": pool,
            "load": load, "loaded": load["loaded"]}


def _f(value, digits: int = 2, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.{digits}f} %" if pct else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    run = result["runs"][0]
    peak = run["peak"]
    relu = {r["pass"]: r["ms"] for r in run["passes"] if r["activation"] == "relu"}
    lines = [f"Tensor {'×'.join(map(str, run['shape']))} (float32), {run['threads']} thread(s), {run['rounds']} rounds; "
             f"ReLU forward {relu['forward']:.2f} ms, backward {relu['backward']:.2f} ms (medians). "
             f"{machine.load_sentence(run)} Peaks: bandwidth {run['copy_bandwidth_gb_per_s']:.1f} GB/s "
             f"(measured: one thread copying a tensor of this size; main memory, a 256 MiB copy: "
             f"{run['memory_bandwidth_gb_per_s']:.1f} GB/s); arithmetic "
             f"{_f(peak['gflops'], 0)} GFLOP/s nominal ({_f(peak['ghz'])} GHz × {peak['lanes']} float32 lanes "
             f"({peak['isa']}) × {peak['fma_units']} FMA units (assumed) × 2).", "",
             "| activation | pass | ms (median) | × ReLU's pass | ns/element | cycles/element | in cache: cycles/element "
             "| flops/element (÷) | GB/s | of bandwidth | GFLOP/s | of peak |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in run["passes"]:
        label = r["activation"] + (" (eval)" if r["mode"] == "eval" else "")
        lines.append(f"| {label} | {r['pass']} | {r['ms']:.2f} | {r['ms'] / relu[r['pass']]:.2f} | "
                     f"{r['ns_per_element']:.2f} | {_f(r['cycles_per_element'])} | {_f(r.get('in_cache_cycles_per_element'))} | "
                     f"{r['flops']} ({r['divisions']}) | "
                     f"{r['gb_per_s']:.1f} | {_f(r['of_bandwidth'], 0, True)} | {r['gflop_per_s']:.1f} | "
                     f"{_f(r['of_peak_flops'], 1, True)} |")
    lines += ["", "Training step (batch 64, forward + cross-entropy + backward + AdamW) under `torch.profiler`, ms per "
              "step by operator group (self time), and what the learnable net adds over its ReLU twin:", ""]
    groups = list(run["nets"][0]["groups"])
    lines += ["| net | with | " + " | ".join(groups) + " | step | activation's share |",
              "| --- | --- | " + " | ".join("---" for _ in groups) + " | --- | --- |"]
    for twin, net in zip(run["nets"][::2], run["nets"][1::2]):
        for row in (twin, net):
            lines.append(f"| {row['model']} | {row['activation']} | "
                         + " | ".join(f"{row['groups'][g]:.2f}" for g in groups)
                         + f" | {row['step_ms']:.1f} | {100 * row['activation_share']:.0f} % |")
        lines.append(f"| {net['model']} | added by {net['activation']} | "
                     + " | ".join(f"{net['groups'][g] - twin['groups'][g]:+.2f}" for g in groups)
                     + f" | {net['step_ms'] - twin['step_ms']:+.1f} | |")
    if run.get("pool"):
        base = run["pool"]["relu"]["ms"]
        lines += ["", "Control for the pooling row: one 2×2 max-pool forward on the tensor above, after each of these "
                  "(ms, median over rounds; × the pool after ReLU):", "",
                  "| pool after | ms | × after ReLU |", "| --- | --- | --- |"]
        lines += [f"| {name} | {v['ms']:.2f} | {v['ms'] / base:.2f} |" for name, v in run["pool"].items()]
    return "\n".join(lines)


def readme_from_json(allow_loaded: bool = False, results: Path = RESULTS, readme: Path = README) -> int:
    return timing.readme_from_json(results / "profile-cpu.json", readme, "profile-cpu", markdown, ROOT, allow_loaded)


def main(argv=None) -> None:
    parser = timing.script_parser(__doc__, RESULTS, "profile-cpu.json", "profile tables",
                                  "smoke run: small tensor, 2 rounds, 1 step, no JSON")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of the pass timings (default 20)")
    parser.add_argument("--steps", type=int, default=4, help="profiled training steps per net and block (default 4)")
    parser.add_argument("--shape", type=int, nargs="+", default=[64, 32, 28, 28], help="tensor shape of part 1")
    args = parser.parse_args(argv)
    load_before = timing.start_measurement(parser, args, argv, __file__, readme_from_json)
    torch.set_num_threads(args.threads)
    shape, rounds, steps = ((4, 8, 16, 16), 2, 1) if args.quick else (tuple(args.shape), args.rounds, args.steps)
    timing.finish_measurement(measure(shape, rounds, steps), load_before, markdown, args, RESULTS, "profile-cpu")


if __name__ == "__main__":
    main()
