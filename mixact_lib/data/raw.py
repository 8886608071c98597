"""What every reader returns, and the seeded class-stratified index choices made on its labels.

:class:`RawData` is a dataset as parsed from disk (uint8 images, int64 labels, on the CPU).
:func:`stratified_split` holds out a fraction of it per class (FER's and miniImageNet's test sets,
``val_fraction``); :func:`stratified_subset` keeps ``n`` items with class counts as equal as
possible (``train_subset``/``test_subset``). Both the readers (:mod:`~mixact_lib.data.readers`,
:mod:`~mixact_lib.data.fer`, :mod:`~mixact_lib.data.miniimagenet`) and the loader
(:mod:`~mixact_lib.data.tensors`) import this module, and it imports none of them.

Index bookkeeping is done in numpy: single-threaded, so it stays fast on a busy machine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class RawData:
    """A dataset as parsed from disk: uint8 images (N, C, H, W) and int64 labels (N,), on the CPU.

    Shared through the cache: treat the tensors as read-only (index or copy them first).
    """
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: tuple[str, ...]
    source: str


def stratified_split(y: Tensor, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Split indices 0..N-1 into (kept, held out) with round(fraction·N) held out, class proportions kept.

    Each class k with c_k members gives floor(fraction·c_k) and the remaining places go to the
    classes with the largest remainders (ties: lower class first), so the split is deterministic
    for a given ``generator`` state. Both index tensors come back sorted.
    """
    counts = np.bincount(y.cpu().numpy())
    exact = counts * fraction
    quota = np.floor(exact).astype(np.int64)
    short = round(fraction * len(y)) - int(quota.sum())
    by_remainder = sorted(range(len(counts)), key=lambda k: (quota[k] - exact[k], k))
    quota[by_remainder[:short]] += 1
    members = indices_by_class(y, counts)
    held = [m[torch.randperm(len(m), generator=generator)[:q].numpy()] for m, q in zip(members, quota)]
    held_idx = np.sort(np.concatenate(held))
    kept = np.ones(len(y), dtype=bool)
    kept[held_idx] = False
    return torch.from_numpy(np.flatnonzero(kept)), torch.from_numpy(held_idx)


def stratified_subset(y: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Sorted indices of ``n`` items with class counts as equal as possible (water-filling).

    Every class gets ⌊n/K⌋ if it has that many; a class too small gives all it has and the rest is
    shared among the others; the last few places (n mod K) go to classes drawn by ``generator``.
    Members of each class are drawn by ``generator`` too, so the subset is a function of its state.
    """
    counts = np.bincount(y.cpu().numpy())
    members = indices_by_class(y, counts)
    quota = np.zeros_like(counts)
    remaining = n
    while remaining > 0:
        open_ = np.flatnonzero(quota < counts)
        share = remaining // len(open_)
        if share == 0:  # fewer places than open classes: a seeded draw decides who gets one more
            quota[open_[torch.randperm(len(open_), generator=generator)[:remaining].numpy()]] += 1
            break
        give = np.minimum(counts[open_] - quota[open_], share)
        quota[open_] += give
        remaining -= int(give.sum())
    picked = [m[torch.randperm(len(m), generator=generator)[:q].numpy()] for m, q in zip(members, quota)]
    return torch.from_numpy(np.sort(np.concatenate(picked)))


def indices_by_class(y: Tensor, counts: np.ndarray) -> list[np.ndarray]:
    """Indices of class 0, class 1, ... (each in ascending order), via one stable sort."""
    return np.split(np.argsort(y.cpu().numpy(), kind="stable"), np.cumsum(counts)[:-1])
