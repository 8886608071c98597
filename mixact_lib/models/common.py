"""Small helpers shared by the model files: sizes, width scaling, a conv unit."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from .sites import SiteMaker


def as_size(image_size: int | Sequence[int]) -> tuple[int, int]:
    """(H, W) from an int or a pair; ValueError for anything else."""
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be (height, width) of positive ints, got {image_size!r}")
    return size  # type: ignore[return-value]


def halved(size: tuple[int, int], times: int) -> tuple[int, int]:
    """Spatial size after ``times`` MaxPool2d(2, 2) (floor, as PyTorch does)."""
    h, w = size
    for _ in range(times):
        h, w = h // 2, w // 2
    return h, w


def check_width(width: float) -> float:
    if not width > 0:
        raise ValueError(f"width is a channel multiplier and must be > 0 (1.0 = paper scale), got {width!r}")
    return float(width)


def scaled(channels: int, width: float) -> int:
    """``channels × width``, rounded, at least 1: the width multiplier of every CIFAR-zoo model."""
    return max(1, int(round(channels * width)))


def check_counts(name: str, counts: Sequence[int], maximum: Sequence[int] | None = None) -> tuple[int, ...]:
    """Validate a per-stage block count such as ResNet's (3, 4, 6, 3)."""
    counts = tuple(int(c) for c in counts)
    ok = len(counts) > 0 and all(c >= 1 for c in counts)
    if maximum is not None:
        ok = ok and len(counts) == len(maximum) and all(c <= m for c, m in zip(counts, maximum))
    if not ok:
        limit = f" and at most {tuple(maximum)}" if maximum is not None else ""
        raise ValueError(f"{name} must be positive counts per stage{limit}, got {counts!r}")
    return counts


class ConvUnit(nn.Sequential):
    """conv → [BatchNorm] → activation site, children named ``conv``, ``bn``, ``act``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        make_site: SiteMaker,
        stride: int = 1,
        batch_norm: bool = True,
    ):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv"] = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2)
        if batch_norm:
            layers["bn"] = nn.BatchNorm2d(out_channels)
        layers["act"] = make_site(out_channels)
        super().__init__(layers)


__all__ = ["ConvUnit", "as_size", "check_counts", "check_width", "halved", "scaled"]
