"""What one training step costs per activation, measured side by side: time, and memory held for backward.

Wall-clock seconds on a shared machine swing several-fold with the neighbours' load, so a chapter shows
**ratios to ReLU measured in the same rounds**: each round visits every activation in a new random order,
takes one untimed step (to settle allocations after the previous network) and then one timed step; a ratio
is the median over rounds of ``step_time / relu_step_time`` of that round, and the range over rounds says
how steady it was (as ``benchmarks/training.py`` does for the paper nets).

Memory is what autograd holds for backward in one training step: the distinct storages that the forward
pass saves, counted with ``torch.autograd.graph.saved_tensors_hooks``. It is deterministic and independent of
load, and it is the part of a step's memory that the activation changes (the weights, their gradients and
AdamW's two moments differ between activations only by the activation's own few parameters, reported as
``extra_params``). On a GPU ``benchmarks/gpu_check.sh`` measures the allocator's peak as well.
"""
from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..activations import canonical_name
from ..activations.fast_core import fast_path
from ..models import build_model

REFERENCE = "relu"


def saved_bytes(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes autograd keeps for backward in one cross-entropy forward pass of ``model`` (distinct storages).

    The backward pass then runs, so the call leaves gradients in ``model`` as a training step would.
    """
    storages: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[(storage.data_ptr(), str(t.device), storage.nbytes())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    return sum(storages.values())


def _training_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float):
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

    Returns one row per activation (ReLU, the reference, is always included): ``step_ms`` (median over
    rounds), ``step_ratio`` (median of the per-round ratio to ReLU) with ``ratio_low``/``ratio_high`` (its
    range over rounds) and ``ratio_q1``/``ratio_q3`` (its interquartile range), ``saved_mb`` and ``saved_ratio`` (memory held for backward, see the module
    docstring), ``num_params`` and ``extra_params`` (over ReLU's network), and ``fast_path`` (which kernels
    ran). ``threads`` pins torch's CPU threads for the measurement (restored afterwards; ``None`` keeps
    torch's setting). Inputs are random images of the given shape: the cost does not depend on the data.
    """
    if rounds < 1 or batch_size < 1:
        raise ValueError(f"rounds ({rounds}) and batch_size ({batch_size}) must be at least 1")
    names = list(dict.fromkeys([REFERENCE] + [canonical_name(a) for a in activations]))
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(batch_size, in_channels, *image_size, generator=generator).to(device)
        y = torch.randint(0, num_classes, (batch_size,), generator=generator).to(device)
        steps, rows = {}, {}
        for name in tqdm(names, desc="building networks", disable=not progress):
            torch.manual_seed(seed)
            net = build_model(model, num_classes=num_classes, in_channels=in_channels, activation=name,
                              image_size=image_size, **(model_kwargs or {})).to(device).train()
            rows[name] = {"activation": name, "num_params": sum(p.numel() for p in net.parameters()),
                          "saved_bytes": saved_bytes(net, x, y), "fast_path": fast_path(device)}
            steps[name] = _training_step(net, x, y, lr)
            steps[name]()  # first step outside the timing: builds/loads kernels, allocates optimiser state
        times: dict[str, list[float]] = {name: [] for name in names}
        order = list(names)
        shuffle = random.Random(seed)
        for _ in tqdm(range(rounds), desc="timing rounds", disable=not progress):
            shuffle.shuffle(order)
            for name in order:
                steps[name]()
                start = time.perf_counter()
                steps[name]()
                times[name].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(old_threads)
    reference = rows[REFERENCE]
    out = []
    for name in names:
        ratios = [t / r for t, r in zip(times[name], times[REFERENCE])]
        row = dict(rows[name])
        row.update(step_ms=statistics.median(times[name]) * 1e3, step_ratio=statistics.median(ratios),
                   ratio_low=min(ratios), ratio_high=max(ratios), ratio_q1=float(np.percentile(ratios, 25)),
                   ratio_q3=float(np.percentile(ratios, 75)), saved_mb=row["saved_bytes"] / 2**20,
                   saved_ratio=row["saved_bytes"] / reference["saved_bytes"],
                   extra_params=row["num_params"] - reference["num_params"])
        out.append(row)
    frame = pd.DataFrame(out)
    frame.attrs.update(batch_size=batch_size, rounds=rounds, threads=threads or old_threads, model=model)
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
