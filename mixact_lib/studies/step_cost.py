"""What one training step costs per activation, measured side by side: time, and memory held for backward.

Wall-clock seconds on a shared machine swing several-fold with the neighbours' load, so a chapter shows
**ratios to ReLU measured in the same rounds**, taken with the timing harness of
:mod:`mixact_lib.studies.timing` (the one ``benchmarks/`` uses): each round visits every activation in a new
random order, takes one untimed step (to settle allocations after the previous network) and then one timed
step; a ratio is the median over rounds of ``step_time / relu_step_time`` of that round, and the range over
rounds says how steady it was. The harness also records how many cores other processes held meanwhile
(:mod:`mixact_lib.studies.machine`).

Memory is what autograd holds for backward in one training step: the distinct storages that the forward
pass saves (:func:`mixact_lib.studies.timing.saved_bytes`). It is deterministic and independent of load,
and it is the part of a step's memory that the activation changes (the weights, their gradients and
AdamW's two moments differ between activations only by the activation's own few parameters, reported as
``extra_params``). On a GPU ``benchmarks/gpu_check.sh`` measures the allocator's peak as well.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..activations import canonical_name
from ..activations.fast_core import fast_path
from ..models import build_model
from . import machine, timing

REFERENCE = "relu"


def training_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float):
    """A call running one training step of ``model`` on the batch (x, y): forward, cross-entropy, backward, AdamW."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def step_costs(activations: Sequence[str], model: str = "paper_c_convnet", model_kwargs: dict | None = None,
               batch_size: int = 64, rounds: int = 7, image_size: tuple[int, int] = (28, 28), in_channels: int = 1,
               num_classes: int = 10, lr: float = 1e-3, seed: int = 0, threads: int | None = 1,
               device: str = "cpu", progress: bool = True) -> pd.DataFrame:
    """One training step (forward, backward, AdamW) of ``model`` with each activation, timed side by side.

    Returns one row per activation (ReLU, the reference, is always included): ``step_ms`` and
    ``step_ms_min`` (median and minimum over rounds), ``step_ratio`` (median of the per-round ratio to
    ReLU) with ``ratio_low``/``ratio_high`` (its range over rounds) and ``ratio_q1``/``ratio_q3`` (its
    interquartile range), ``saved_mb`` and ``saved_ratio`` (memory held for backward, see the module
    docstring), ``num_params`` and ``extra_params`` (over ReLU's network), and ``fast_path`` (which kernels
    ran). ``attrs`` holds the settings, ReLU's own ``relu_ms``, and the harness's ``load`` reading with its
    ``loaded`` flag. ``threads`` pins torch's CPU threads for the measurement (restored afterwards;
    ``None`` keeps torch's setting). Inputs are random images of the given shape: the cost does not depend
    on the data.
    """
    if rounds < 1 or batch_size < 1:
        raise ValueError(f"rounds ({rounds}) and batch_size ({batch_size}) must be at least 1")
    names = list(dict.fromkeys([REFERENCE] + [canonical_name(a) for a in activations]))
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    sync = timing.synchronizer(device)
    try:
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(batch_size, in_channels, *image_size, generator=generator).to(device)
        y = torch.randint(0, num_classes, (batch_size,), generator=generator).to(device)
        steps, rows = {}, {}
        for name in tqdm(names, desc="building networks", disable=not progress):
            torch.manual_seed(seed)
            net = build_model(model, num_classes=num_classes, in_channels=in_channels, activation=name,
                              image_size=image_size, **(model_kwargs or {})).to(device).train()
            saved = timing.saved_bytes(lambda: F.cross_entropy(net(x), y))
            rows[name] = {"activation": name, "num_params": sum(p.numel() for p in net.parameters()),
                          "saved_bytes": saved, "fast_path": fast_path(device)}
            steps[name] = training_step(net, x, y, lr)
            timing.first_call_seconds(steps[name], sync)  # builds/loads kernels, allocates optimiser state
        timings = timing.time_rounds(steps, rounds, sync=sync, seed=seed, progress=progress)
    finally:
        torch.set_num_threads(old_threads)
    reference = rows[REFERENCE]
    out = []
    for name in names:
        s = timings.summary(name, REFERENCE)
        row = dict(rows[name])
        row.update(step_ms=s["ms"], step_ms_min=s["ms_min"], step_ratio=s["round_ratio"],
                   ratio_low=s["round_ratio_min"], ratio_high=s["round_ratio_max"], ratio_q1=s["round_ratio_q1"],
                   ratio_q3=s["round_ratio_q3"], saved_mb=row["saved_bytes"] / 2**20,
                   saved_ratio=row["saved_bytes"] / reference["saved_bytes"],
                   extra_params=row["num_params"] - reference["num_params"])
        out.append(row)
    frame = pd.DataFrame(out)
    frame.attrs.update(batch_size=batch_size, rounds=rounds, threads=threads or old_threads, model=model,
                       relu_ms=out[0]["step_ms"], load=timings.load, loaded=timings.load["loaded"],
                       **machine.allocator_state())
    return frame


def pareto_mask(frame: pd.DataFrame, value: str, costs: Sequence[str]) -> pd.Series:
    """True for the rows no other row dominates: another row dominates when its ``value`` is at least as
    high and every cost at most as high, with one of them strictly better (higher value is better, lower
    cost is better)."""
    missing = [c for c in [value, *costs] if c not in frame.columns]
    if missing:
        raise KeyError(f"pareto_mask: columns {missing} not in the table (it has {list(frame.columns)})")
    v = frame[value].to_numpy()
    c = frame[list(costs)].to_numpy()
    keep = []
    for i in range(len(frame)):
        no_worse = (v >= v[i]) & (c <= c[i]).all(axis=1)
        better = (v > v[i]) | (c < c[i]).any(axis=1)
        keep.append(not (no_worse & better).any())
    return pd.Series(keep, index=frame.index, name="pareto")
