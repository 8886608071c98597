"""Where the time goes: one kernel pass at a time, and one training step split by kind of operator.

Two measurements for ``benchmarks/breakdown.py`` (issue 31, item 3):

- :func:`pass_times` times the forward and the backward pass of an activation *separately* (median and
  minimum over rounds, in the same shuffled rounds as ReLU) and turns them into per-element rates: cycles
  per element at the nominal clock, bytes per second, and arithmetic per second. :data:`PASS_COUNTS` holds
  the arithmetic and the memory traffic per element of each pass, counted from the kernels' source.
- :func:`step_breakdowns` runs a few training steps (forward, cross-entropy, backward, AdamW) under
  ``torch.profiler`` and adds each operator's own (self) CPU time into the groups of :data:`GROUPS`:
  the activation, convolutions, BatchNorm, pooling, linear layers, the optimizer, and everything else.
  The activation's share of a step, and what the step adds over its ReLU twin group by group, come from
  there.

Peak figures (:func:`machine_peak`): the arithmetic peak is the nominal clock (``/proc/cpuinfo``) times the
vector width torch's CPU capability names (16 float32 lanes for AVX-512, 8 for AVX2) times two fused
multiply-adds per cycle (two FMA units, 2 flops each): an assumption about the core, stated wherever it is
used. The memory figures are *measured* in the same run: one thread copying a float32 tensor of the
activation's size into another (the bandwidth a pass that only moves its bytes reaches there, caches included),
and one of 256 MiB (main memory), bytes read plus bytes written over the time.
"""
from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from ..activations import fast_native, make_activation
from ..activations.fast_core import fast_path
from ..models import build_model
from .step_cost import training_step
from .timing import time_rounds

#: arithmetic per element of each native kernel pass (float32), counted from ``native/mix_core.h``: +, −, ×
#: and ÷ count one each, a fused multiply-add two; compares, selects, |x| and the integer hash of RReLU's
#: slopes are not counted (``divisions`` and ``hash`` say how many of those the pass has). ``bytes``: the
#: memory the pass must move per element (forward reads x and writes y; backward reads x and the incoming
#: gradient and writes dx). ReLU's backward reads its saved output instead of x: the same bytes.
PASS_COUNTS: dict[tuple[str, str], dict] = {
    # e^{-|x|} 20 (Cody-Waite + degree-6 polynomial + scale); σ: 1 + t, ÷, t·inv 3; e^x − 1 1;
    # Mish's tanh(softplus): 8 incl. one ÷; the sum Σ c_j φ_j: pos 2, neg 2, em1 2, silu 3, mish 3, noise 3
    ("adact", "forward"): {"flops": 47, "divisions": 2, "hash": True, "bytes": 8},
    ("adact-eval", "forward"): {"flops": 44, "divisions": 2, "hash": False, "bytes": 8},
    # the same 32 to rebuild the features, slope terms (left 2, em1 2, silu 5, mish 6 + 1, noise 3),
    # dx = g·D 1, and g·φ_j added into six coefficient sums (12)
    ("adact", "backward"): {"flops": 64, "divisions": 2, "hash": True, "bytes": 12},
    ("adact-eval", "backward"): {"flops": 59, "divisions": 2, "hash": False, "bytes": 12},
    # e^{-|x|} 20; tanh from t² 4 incl. one ÷; sin and cos (Cephes, both polynomials) 26; the sum 6
    ("mix", "forward"): {"flops": 56, "divisions": 1, "hash": False, "bytes": 8},
    # the same 50, slope terms 2 + 4 + 2, dx 1, four coefficient sums 8
    ("mix", "backward"): {"flops": 67, "divisions": 1, "hash": False, "bytes": 12},
    ("relu", "forward"): {"flops": 0, "divisions": 0, "hash": False, "bytes": 8},
    ("relu", "backward"): {"flops": 0, "divisions": 0, "hash": False, "bytes": 12},
}

#: operator groups of a training step, each a test on the profiler's operator name (first match wins)
GROUPS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("activation", lambda n: n.startswith("FusedActivation") or n in (
        "aten::relu", "aten::relu_", "aten::clamp_min", "aten::clamp_min_", "aten::threshold_backward")),
    ("convolution", lambda n: "convolution" in n or n.startswith("aten::conv")),
    ("batchnorm", lambda n: "batch_norm" in n),
    ("pooling", lambda n: "pool" in n.lower()),  # torch's aten::max_pool2d…, or mixact's NativeMaxPool2
    ("linear", lambda n: n in ("aten::addmm", "aten::mm", "aten::linear", "aten::t")),
    ("optimizer", lambda n: n.startswith("Optimizer.") or n.startswith("aten::_foreach")
     or n in ("aten::lerp_", "aten::addcdiv_", "aten::addcmul_", "aten::sqrt", "aten::_fused_adamw_")),
)


def group_of(name: str) -> str:
    """The group of :data:`GROUPS` an operator belongs to, ``other`` if none."""
    for group, test in GROUPS:
        if test(name):
            return group
    return "other"


def counted(activation: str, mode: str = "train") -> str:
    """The key of :data:`PASS_COUNTS` for an activation in a mode (eval drops RReLU's random slopes)."""
    return f"{activation}-eval" if activation == "adact" and mode == "eval" else activation


def nominal_ghz(cpuinfo: Path = Path("/proc/cpuinfo")) -> float | None:
    """The clock /proc/cpuinfo states (``cpu MHz`` of the first core), in GHz; None where it says nothing."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("cpu mhz"):
                return float(line.split(":")[1]) / 1000
    except (OSError, ValueError):
        pass
    return None


def copy_bandwidth(elements: int, rounds: int = 5) -> float:
    """Measured copy bandwidth of this process's threads in GB/s: the best of ``rounds`` copies of a float32
    tensor of ``elements`` elements into another, counting the bytes read and the bytes written. At the
    size of the tensor an activation works on, it is what a pass that only moves its bytes could reach
    there (caches included); at 256 MiB, what main memory gives one core."""
    src = torch.ones(elements)
    dst = torch.empty_like(src)
    dst.copy_(src)  # fault the pages in
    best = min(_seconds(lambda: dst.copy_(src)) for _ in range(rounds))
    return 2 * src.numel() * 4 / best / 1e9


def machine_peak(ghz: float | None, isa: str | None = None, fma_units: int = 2) -> dict:
    """Nominal float32 arithmetic peak (GFLOP/s) of one core: clock × lanes × 2 flops × ``fma_units``."""
    isa = isa or torch.backends.cpu.get_cpu_capability()
    lanes = 16 if "512" in isa else 8 if "AVX2" in isa else 4
    flops = None if ghz is None else ghz * lanes * 2 * fma_units
    return {"ghz": ghz, "isa": isa, "lanes": lanes, "fma_units": fma_units, "gflops": flops}


def rates(seconds: float, elements: int, counts: Mapping, ghz: float | None, peak_gflops: float | None,
          bandwidth_gbs: float) -> dict:
    """Per-element rates of one pass that took ``seconds`` over ``elements``: cycles per element (at
    ``ghz``), GB/s moved, GFLOP/s done, and their fractions of the machine's peaks."""
    gbs = counts["bytes"] * elements / seconds / 1e9
    gflops = counts["flops"] * elements / seconds / 1e9
    return {"ns_per_element": seconds / elements * 1e9,
            "cycles_per_element": None if ghz is None else seconds / elements * ghz * 1e9,
            "gb_per_s": gbs, "of_bandwidth": gbs / bandwidth_gbs,
            "gflop_per_s": gflops, "of_peak_flops": None if not peak_gflops else gflops / peak_gflops}


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pass_times(activations: Sequence[tuple[str, str]], shape: Sequence[int], rounds: int = 20,
               seed: int = 0) -> dict[tuple[str, str, str], list[float]]:
    """Seconds of each (activation, mode)'s forward and backward pass on a float32 tensor of ``shape``.

    Every round visits every (activation, mode, pass) once in a shuffled order, right after an untimed
    call of the same thing (:func:`~mixact_lib.studies.timing.time_rounds`, the benchmarks' harness). The forward is timed with autograd recording (as in training); the backward is
    ``torch.autograd.grad`` of a fresh forward's output, timed alone. Returns ``{(name, mode, pass): [s, …]}``.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(tuple(shape), generator=gen).requires_grad_(True)
    grad = torch.randn(tuple(shape), generator=gen)
    calls: dict[tuple[str, str, str], Callable[[], None]] = {}
    for name, mode in activations:
        module = make_activation(name)
        module.train(mode == "train")
        inputs = [x, *module.parameters()]
        calls[(name, mode, "forward")] = lambda m=module: m(x)
        calls[(name, mode, "backward")] = _backward_call(module, x, grad, inputs)
    return time_rounds(calls, rounds, seed=seed).seconds


def _backward_call(module: nn.Module, x: torch.Tensor, grad: torch.Tensor, inputs: list) -> Callable[[], None]:
    """A call for :func:`pass_times`' warm-then-timed visits: the warm visit runs the forward and keeps its
    output, the timed visit runs only the backward through it."""
    state: dict = {}

    def call() -> None:
        if "y" not in state:  # first (warm) visit: make the graph; the timed visit consumes it
            state["y"] = module(x)
            return
        torch.autograd.grad(state.pop("y"), inputs, grad)

    return call


#: inputs of the max-pool control (:func:`pool_after`): what each activation hands the pooling layer
POOL_INPUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu, "relu + 0.01": lambda x: torch.relu(x) + 0.01, "tanh": torch.tanh,
    "adact": lambda x: make_activation("adact")(x), "identity": lambda x: x.clone(),
}


def pool_after(shape: Sequence[int], rounds: int = 30, seed: int = 0) -> dict[str, list[float]]:
    """Seconds of one 2×2 max-pool forward on the output of each of :data:`POOL_INPUTS`, in shuffled rounds.

    A control for the step breakdown: whether pooling costs more after a learnable activation because of the
    activation or because of what its output looks like (torch's own tanh, and the identity, pass on dense
    values of both signs; ReLU passes on half zeros, and ``relu + 0.01`` the same pattern without zeros).
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(tuple(shape), generator=gen)
    with torch.no_grad():
        inputs = {name: fn(x) for name, fn in POOL_INPUTS.items()}
    pool = nn.MaxPool2d(2)
    calls = {name: (lambda t=t: pool(t)) for name, t in inputs.items()}
    return time_rounds(calls, rounds, seed=seed).seconds


def in_cache_ns(source: Path, elements: int = 1 << 16, reps: int = 200, compiler: str = "g++") -> dict | None:
    """Nanoseconds per element of the mixture kernel's passes on data resident in cache, free of torch.

    Compiles ``source`` (``benchmarks/native/cycles.cpp``) against ``native/mix_core.h`` with the flags
    :mod:`~mixact_lib.activations.fast_native` builds the kernels with, runs it on ``elements`` float32
    elements (2^16: 256 KiB per array, in L2) and returns ``{(name, pass): ns}`` for ``adact``,
    ``adact-eval``, ``mix`` and ``piecewise-linear``. None, with nothing raised, when no compiler is found.
    """
    if shutil.which(compiler) is None:
        return None
    isa = torch.backends.cpu.get_cpu_capability()
    flags = [f for f in fast_native.BASE_FLAGS if f != "-fopenmp"] + fast_native.ISA_FLAGS.get(isa, [])
    header_dir = Path(fast_native.__file__).parent / "native"
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "cycles"
        subprocess.run([compiler, "-std=c++20", *flags, "-I", str(header_dir), str(source), "-o", str(binary)],
                       check=True, capture_output=True, text=True)
        out = subprocess.run([str(binary), str(elements), str(reps)], check=True, capture_output=True, text=True)
    result = {}
    for line in out.stdout.split("\n"):
        parts = line.split()
        if len(parts) == 3:
            result[(parts[0], parts[1])] = float(parts[2])
    return result


def step_breakdowns(configs: Sequence[tuple[str, str]], steps: int = 4, blocks: int = 5, warm: int = 3,
                    batch_size: int = 64, image_size: tuple[int, int] = (28, 28), in_channels: int = 1,
                    num_classes: int = 10, seed: int = 0) -> list[dict]:
    """Milliseconds per training step of each (model, activation) in ``configs``, split into :data:`GROUPS`.

    Every net first runs ``warm`` untimed steps. Then, ``blocks`` times, each net in a shuffled order runs
    ``steps`` steps under ``torch.profiler`` (CPU), and every operator's self time goes into its group; a
    group's figure is its median over the blocks, so a slow moment of the machine lands in one block of one
    net, not in the comparison. Returns one dict per config, in order: ``{"groups": {group: ms per step},
    "step_ms": their sum, "activation_share": activation ms ÷ step ms, "blocks": [groups per block], …}``.
    The profiler adds a little time per operator: compare groups between nets, not with unprofiled steps.
    """
    from torch.profiler import ProfilerActivity, profile

    runs = []
    for model, activation in configs:
        torch.manual_seed(seed)
        net = build_model(model, num_classes=num_classes, in_channels=in_channels, activation=activation,
                          image_size=image_size)
        net.train()
        x = torch.randn(batch_size, in_channels, *image_size)
        y = torch.randint(0, num_classes, (batch_size,))
        runs.append(training_step(net, x, y, lr=1e-3))
        for _ in range(warm):
            runs[-1]()
    names = [group for group, _ in GROUPS] + ["other"]
    per_block: list[list[dict]] = [[] for _ in configs]
    order = list(range(len(configs)))
    shuffle = random.Random(seed)
    for _ in range(blocks):
        shuffle.shuffle(order)
        for i in order:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(steps):
                    runs[i]()
            groups = dict.fromkeys(names, 0.0)
            for event in prof.key_averages():
                groups[group_of(event.key)] += event.self_cpu_time_total / 1e3 / steps
            per_block[i].append(groups)
    out = []
    for (model, activation), blocks_of in zip(configs, per_block):
        groups = {g: statistics.median(b[g] for b in blocks_of) for g in names}
        total = sum(groups.values())
        out.append({"model": model, "activation": activation, "steps": steps, "blocks": blocks_of,
                    "groups": groups, "step_ms": total, "activation_share": groups["activation"] / total,
                    "fast_path": fast_path("cpu")})
    return out
