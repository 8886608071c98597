"""The paper nets' 2×2 max-pool: torch's CPU kernel against mixact's native one, side by side in one process.

    python benchmarks/pooling.py --hold-freed-memory --require-quiet   # measure (CPU, 1 thread), write JSON
    python benchmarks/pooling.py --quick                                # smoke run: small, no JSON unless --out
    python benchmarks/pooling.py --update-readme                        # rebuild the README's pooling table

Part 1: one pool at each of paper C's four pool sites (batch 64, the ConvNet's 32/64/128/256 channels on
28×28 images: inputs 28×28, 14×14, 7×7 and 3×3), in training (forward and backward) and in evaluation (forward
only), torch's ``max_pool2d`` and ``mixact_lib.models.pooling.max_pool2x2`` timed in the same shuffled rounds.
Part 2: what it buys a whole training step (forward, cross-entropy, backward, AdamW) of paper C's ConvNet with
ReLU and with AdAct, and of paper A's net with mix: each net built twice from one seed, its pools on torch's
kernel in one copy and on the native one in the other, the copies timed in the same rounds. Both parts give
the native time as a ratio to torch's (below 1: faster) with torch's absolute time and the machine's load beside
it; the results are the same bits either way (``tests/test_pooling.py``), so only time is compared.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from mixact_lib.activations import fast_native
from mixact_lib.models import build_model
from mixact_lib.models import pooling
from mixact_lib.studies import machine, timing
from mixact_lib.studies.step_cost import training_step

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "bench"
README = Path(__file__).resolve().parent / "README.md"
#: paper C's pool inputs at batch 64 with the ConvNet's default widths
SHAPES = [(64, 32, 28, 28), (64, 64, 14, 14), (64, 128, 7, 7), (64, 256, 3, 3)]
NETS = [("paper_c_convnet", "relu"), ("paper_c_convnet", "adact"), ("paper_a_net", "mix")]


class TorchPool(torch.nn.MaxPool2d):
    """torch's own 2×2 max-pool, for the copy of a net that keeps it."""

    def __init__(self) -> None:
        super().__init__(kernel_size=2, stride=2)


def with_torch_pools(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` with every :class:`~mixact_lib.models.pooling.MaxPool2x2` replaced by torch's own pool."""
    for name, child in net.named_children():
        if isinstance(child, pooling.MaxPool2x2):
            setattr(net, name, TorchPool())
        else:
            with_torch_pools(child)
    return net


def pool_rows(shapes, rounds: int) -> list[dict]:
    """Part 1: per shape and mode, torch's pool and the native one in the same rounds."""
    rows = []
    for shape in shapes:
        x = torch.relu(torch.randn(shape, generator=torch.Generator().manual_seed(0)))
        grad = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2)
        leaf = x.clone().requires_grad_()

        def train(pool):
            def step():
                leaf.grad = None
                pool(leaf).backward(grad)
            return step

        def evaluate(pool):
            def step():
                with torch.no_grad():
                    pool(x)
            return step

        steps = {("train", "torch"): train(lambda t: F.max_pool2d(t, 2)),
                 ("train", "native"): train(pooling.max_pool2x2),
                 ("eval", "torch"): evaluate(lambda t: F.max_pool2d(t, 2)),
                 ("eval", "native"): evaluate(pooling.max_pool2x2)}
        timings = timing.time_rounds(steps, rounds, seed=0)
        for mode in ("train", "eval"):
            s = timings.summary((mode, "native"), (mode, "torch"))
            rows.append({"shape": list(shape), "mode": mode, "torch_ms": timings.summary((mode, "torch"),
                                                                                        (mode, "torch"))["ms"],
                         "native_ms": s["ms"], "ratio": s["round_ratio"], "ratio_low": s["round_ratio_min"],
                         "ratio_high": s["round_ratio_max"], "load": timings.load})
    return rows


def step_rows(nets, rounds: int, batch: int = 64) -> list[dict]:
    """Part 2: a training step of each net with torch's pools and with the native ones, in the same rounds."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, 1, 28, 28, generator=gen), torch.randint(0, 10, (batch,), generator=gen)
    steps = {}
    for model, activation in nets:
        for kind in ("torch", "native"):
            torch.manual_seed(0)
            net = build_model(model, num_classes=10, in_channels=1, activation=activation, image_size=(28, 28))
            steps[(model, activation, kind)] = training_step(net if kind == "native" else with_torch_pools(net),
                                                             x, y, 1e-3)
    timings = timing.time_rounds(steps, rounds, seed=0)
    rows = []
    for model, activation in nets:
        s = timings.summary((model, activation, "native"), (model, activation, "torch"))
        rows.append({"model": model, "activation": activation,
                     "torch_ms": timings.summary((model, activation, "torch"), (model, activation, "torch"))["ms"],
                     "native_ms": s["ms"], "ratio": s["round_ratio"], "ratio_low": s["round_ratio_min"],
                     "ratio_high": s["round_ratio_max"], "load": timings.load})
    return rows


def measure(shapes, nets, rounds: int) -> dict:
    start = machine.cpu_sample()
    pools, steps = pool_rows(shapes, rounds), step_rows(nets, rounds)
    load = machine.load_between(start, machine.cpu_sample())
    return {"device": "cpu", "threads": torch.get_num_threads(), "rounds": rounds,
            "native_build": fast_native.build_name(), "pools": pools, "steps": steps, "load": load,
            "loaded": load["loaded"]}


def markdown(result: dict) -> str:
    run = result["runs"][0]
    lines = [f"{run['threads']} thread(s), {run['rounds']} rounds, float32, inputs after ReLU. "
             f"{machine.load_sentence(run)} Ratio: the native pool's time ÷ torch's in the same round, median "
             "(lowest–highest) over rounds; below 1 is faster.", "",
             "| pool input | pass | torch (ms) | native (ms) | native ÷ torch |", "| --- | --- | --- | --- | --- |"]
    for r in run["pools"]:
        label = "forward + backward" if r["mode"] == "train" else "forward (evaluation)"
        lines.append(f"| {'×'.join(map(str, r['shape']))} | {label} | {r['torch_ms']:.2f} | {r['native_ms']:.2f} | "
                     f"{r['ratio']:.2f} ({r['ratio_low']:.2f}–{r['ratio_high']:.2f}) |")
    lines += ["", "A whole training step (batch 64: forward, cross-entropy, backward, AdamW), the same net with torch's "
              "pools and with the native ones:", "",
              "| net | activation | step, torch's pools (ms) | step, native pools (ms) | native ÷ torch |",
              "| --- | --- | --- | --- | --- |"]
    for r in run["steps"]:
        lines.append(f"| {r['model']} | {r['activation']} | {r['torch_ms']:.1f} | {r['native_ms']:.1f} | "
                     f"{r['ratio']:.2f} ({r['ratio_low']:.2f}–{r['ratio_high']:.2f}) |")
    return "\n".join(lines)


def readme_from_json(allow_loaded: bool = False, results: Path = RESULTS, readme: Path = README) -> int:
    return timing.readme_from_json(results / "pooling-cpu.json", readme, "pooling-cpu", markdown, ROOT, allow_loaded)


def main(argv=None) -> None:
    parser = timing.script_parser(__doc__, RESULTS, "pooling-cpu.json", "pooling table",
                                  "smoke run: small shapes, 2 rounds, no JSON")
    parser.add_argument("--rounds", type=int, default=20, help="timing rounds (default 20)")
    args = parser.parse_args(argv)
    if not args.update_readme and fast_native.library() is None:
        raise SystemExit(f"the native kernels are unavailable here ({fast_native.failure()}): nothing to compare")
    load_before = timing.start_measurement(parser, args, argv, __file__, readme_from_json)
    torch.set_num_threads(args.threads)
    shapes, nets, rounds = (([(4, 8, 16, 16), (4, 8, 7, 7)], NETS[:1], 2) if args.quick
                            else (SHAPES, NETS, args.rounds))
    timing.finish_measurement(measure(shapes, nets, rounds), load_before, markdown, args, RESULTS, "pooling-cpu")


if __name__ == "__main__":
    main()
