"""Datasets as whole tensors on the training device: load, normalise, pad, subset, batch.

The public side of :mod:`mixact_lib.data`, whose docstring lists the datasets and where their
files go; the files are found and parsed by :mod:`~mixact_lib.data.readers`.

**Normalisation** (paper C §A.2: mean 0.5, std 0.5 for every dataset): images stay uint8 until they
reach the device, then x ← (x/255 − mean)/std, which maps [0, 255] to [−1, 1]. One scalar mean and
std for all channels, as in paper C; pass ``mean``/``std`` to change them.

**Padding.** ``pad_to=32`` pads 28×28 images to 32×32 (paper B's CIFAR networks run on Fashion-MNIST
in our comparisons). Padding happens after normalisation with the value (0 − mean)/std, i.e. black,
so the border looks like the images' own dark background rather than mid-grey.

No DataLoader: a split is two tensors on the device and :func:`batches` indexes them with a seeded
permutation, which is both faster for these small images and exactly reproducible.
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .raw import stratified_split, stratified_subset
from .readers import canonical_dataset_name, load_raw

__all__ = ["Split", "Dataset", "load_dataset", "synthetic_dataset", "batches", "get_batch_count"]


@dataclass
class Split:
    """One split: images x, float32 (N, C, H, W), normalised; labels y, int64 (N,); same device."""
    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return self.y.shape[0]

    def __repr__(self) -> str:  # the default would print every pixel
        return f"Split(x={tuple(self.x.shape)} {self.x.dtype}, y={tuple(self.y.shape)} {self.y.dtype}, " \
               f"device={self.x.device})"


@dataclass
class Dataset:
    """A loaded dataset; ``val`` is a held-out part of the training data (None without ``val_fraction``)."""
    name: str
    train: Split
    test: Split
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    classes: list[str]
    source: str
    val: Split | None = None

    def __repr__(self) -> str:
        sizes = f"train={len(self.train)}" + (f", val={len(self.val)}" if self.val is not None else "") \
            + f", test={len(self.test)}"
        shape = f"{self.in_channels}×{self.image_size[0]}×{self.image_size[1]}"
        return f"Dataset({self.name!r}, {sizes}, {shape}, " \
               f"{self.num_classes} classes, device={self.train.x.device}, source={self.source!r})"


def load_dataset(name: str, root: str | Path | None = None, download: bool = True,
                 train_subset: int | None = None, test_subset: int | None = None,
                 val_fraction: float = 0.0, seed: int = 0, device: str | torch.device = "cpu",
                 pad_to: int | None = None, mean: float = 0.5, std: float = 0.5) -> Dataset:
    """Load dataset ``name`` onto ``device``, normalised as (x/255 − mean)/std.

    ``train_subset``/``test_subset``: keep that many images, as equal per class as the class
    sizes allow, chosen by ``seed`` (same seed → same images). ``val_fraction``: hold out that
    fraction of the (subset) training images as ``val``, stratified, also by ``seed``.
    ``pad_to``: zero-pad (in pixel space: black) to pad_to × pad_to. See :mod:`mixact_lib.data` for
    names, file locations and the FER split; raises :class:`~mixact_lib.data.readers.DatasetNotFoundError`
    if no copy is found.
    """
    key = canonical_dataset_name(name)
    for arg, value in (("train_subset", train_subset), ("test_subset", test_subset), ("pad_to", pad_to)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{arg} must be a positive integer or None, got {value!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}")
    raw = load_raw(key, root=root, download=download)
    height, width = raw.train_x.shape[-2:]
    if pad_to is not None and pad_to < max(height, width):
        raise ValueError(f"pad_to={pad_to} is smaller than {key}'s {height}×{width} images")

    train_idx = _subset(raw.train_y, train_subset, seed, "train_subset", key)
    test_idx = _subset(raw.test_y, test_subset, seed, "test_subset", key)
    val_idx = None
    if val_fraction > 0:
        if train_idx is None:
            train_idx = torch.arange(len(raw.train_y))
        kept, held = stratified_split(raw.train_y[train_idx], val_fraction, _generator(seed, "val"))
        if len(held) == 0 or len(kept) == 0:
            raise ValueError(f"val_fraction={val_fraction} of {len(train_idx)} training images leaves an empty "
                             f"{'validation' if len(held) == 0 else 'training'} split")
        train_idx, val_idx = train_idx[kept], train_idx[held]

    def make(x_u8: Tensor, y: Tensor, idx: Tensor | None) -> Split:
        if idx is not None:  # select while still uint8 on the CPU: 4x less to copy and move
            x_u8, y = x_u8[idx], y[idx]
        x = x_u8.to(device).float().div_(255.0).sub_(mean).div_(std)  # float() copies: the cache stays intact
        if pad_to is not None and pad_to > max(height, width):
            top, left = (pad_to - height) // 2, (pad_to - width) // 2
            x = F.pad(x, (left, pad_to - width - left, top, pad_to - height - top), value=(0.0 - mean) / std)
        return Split(x, y.to(device, copy=True))

    size = (pad_to, pad_to) if pad_to is not None else (int(height), int(width))
    return Dataset(name=key, train=make(raw.train_x, raw.train_y, train_idx),
                   test=make(raw.test_x, raw.test_y, test_idx), num_classes=len(raw.classes),
                   in_channels=int(raw.train_x.shape[1]), image_size=size, classes=list(raw.classes),
                   source=raw.source, val=None if val_idx is None else make(raw.train_x, raw.train_y, val_idx))


def _generator(seed: int, purpose: str) -> torch.Generator:
    # one stream per purpose, so e.g. changing val_fraction leaves train_subset's choice alone
    return torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(purpose.encode())) % 2**63)


def _subset(y: Tensor, n: int | None, seed: int, arg: str, name: str) -> Tensor | None:
    if n is None:
        return None  # everything, no copy
    if n > len(y):
        split = arg.removesuffix("_subset")
        raise ValueError(f"{arg}={n} is more than the {len(y)} {split} images of {name}; use at most {len(y)}")
    return stratified_subset(y, n, _generator(seed, arg))


def synthetic_dataset(num_train: int = 256, num_test: int = 128, num_classes: int = 10,
                      shape: tuple[int, int, int] = (1, 28, 28), seed: int = 0,
                      device: str | torch.device = "cpu") -> Dataset:
    """A small learnable stand-in for tests and smoke runs: x = prototype[y] + N(0, 1) noise.

    Each class has a smooth random prototype (low-resolution Gaussian noise upsampled, scaled to
    unit standard deviation), so a linear model or a small ConvNet separates the classes within a
    few steps, while the pixel noise keeps single pixels uninformative. Labels are balanced.
    """
    channels, height, width = shape
    if num_classes < 2 or num_train < 1 or num_test < 1 or min(shape) < 1:
        raise ValueError(f"need num_classes >= 2, positive sizes and shape; got num_classes={num_classes}, "
                         f"num_train={num_train}, num_test={num_test}, shape={shape}")
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(num_classes, channels, max(height // 4, 1), max(width // 4, 1), generator=g)
    protos = F.interpolate(low, size=(height, width), mode="bilinear", align_corners=False)
    # unit standard deviation per class; a prototype with no spread of its own (images under 8×8 whose
    # low-resolution grid is one pixel, or a single pixel) takes the spread across all classes instead
    flat = protos.flatten(1)
    spread = flat.std(dim=1, correction=1 if flat.shape[1] > 1 else 0)
    spread = torch.where(spread > 1e-6, spread, protos.std(correction=0).clamp_min(1e-6))
    protos = protos / spread.view(-1, 1, 1, 1)

    def make(n: int) -> Split:
        y = (torch.arange(n) % num_classes)[torch.randperm(n, generator=g)]
        x = protos[y] + torch.randn(n, channels, height, width, generator=g)
        return Split(x.to(device), y.to(device))

    return Dataset(name="synthetic", train=make(num_train), test=make(num_test), num_classes=num_classes,
                   in_channels=channels, image_size=(height, width),
                   classes=[str(k) for k in range(num_classes)],
                   source=f"synthetic_dataset(seed={seed}): class prototypes + N(0, 1) noise")


def batches(split: Split, batch_size: int, shuffle: bool, generator: torch.Generator | None = None,
            drop_last: bool = False) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (x, y) mini-batches covering the split once: an epoch.

    With ``shuffle`` the order is ``torch.randperm(N, generator=generator)``, drawn on the
    generator's device (CPU unless you pass another) when iteration starts, then used to index the
    tensors on their own device. Same generator state → same order. ``drop_last`` skips a final
    short batch (BatchNorm1d cannot train on a batch of one).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(split)
    stop = get_batch_count(n, batch_size, drop_last) * batch_size
    if not shuffle:
        for start in range(0, min(stop, n), batch_size):
            yield split.x[start:start + batch_size], split.y[start:start + batch_size]
        return
    gen_device = generator.device if generator is not None else "cpu"
    order = torch.randperm(n, generator=generator, device=gen_device).to(split.x.device)
    for start in range(0, min(stop, n), batch_size):
        idx = order[start:start + batch_size]
        yield split.x[idx], split.y[idx]


def get_batch_count(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches :func:`batches` yields for ``n`` items."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)
