"""2×2 max-pooling with stride 2, as the paper nets use it, on mixact's native CPU kernel when it can run there.

:class:`MaxPool2x2` is ``nn.MaxPool2d(2, 2)`` (floor mode, no padding, no dilation) and returns exactly what it
returns, bit for bit, forward and backward: each output is the max of its window, the first of equal maxima in
torch's scan order (row by row, left to right) and the last NaN of a window winning; the gradient goes to that
winner alone, as 0 + dy (``native/pool_core.h`` says why the addition is kept). ``tests/test_pooling.py`` checks
both against ``torch.nn.functional.max_pool2d`` on ties, zeros after ReLU, ±inf, NaN, -0 gradients and odd sizes.

Why: on a CPU, torch's kernel for contiguous (N, C, H, W) tensors takes several times as long as a ReLU over its
input and stores an int64 index per output for the backward; in paper C's ConvNet it was about a quarter of a
training step (``benchmarks/pooling.py`` measures both side by side). The native kernel keeps an int32 per
output for the backward (which of the four won) instead.

The native path runs for contiguous float32/float64 CPU tensors of 3 or 4 dimensions when the kernels are
available (:mod:`mixact_lib.activations.fast_native`; ``MIXACT_NATIVE=0`` turns them off); anything else (a GPU,
channels-last memory, float16, no compiler) goes to torch's own max-pool, with the same results. No double
backward on the native path.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.autograd.function import once_differentiable

from ..activations import fast_native


def native_eligible(x: torch.Tensor) -> bool:
    """Whether the native kernel takes ``x``: a contiguous float32/float64 CPU tensor (…, H ≥ 2, W ≥ 2) of 3 or 4
    dimensions, with the kernels available."""
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.dim() in (3, 4)
            and x.shape[-1] >= 2 and x.shape[-2] >= 2 and x.is_contiguous() and x.numel() < 1 << 32
            and fast_native.library() is not None)


class NativeMaxPool2(torch.autograd.Function):
    """The native 2×2 max-pool as an autograd function: the forward keeps which of the four won each window
    (int32), the backward sends dy there."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y, code = fast_native.library().maxpool2_forward(x, True)
        ctx.save_for_backward(code)
        ctx.input_sizes = list(x.shape)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (code,) = ctx.saved_tensors
        return fast_native.library().maxpool2_backward(grad.contiguous(), code, ctx.input_sizes)


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``torch.nn.functional.max_pool2d(x, 2)``, on the native kernel where :func:`native_eligible` (and not while
    ``torch.compile`` traces: its compiler lowers torch's pool itself, and an opaque extension call would split the
    graph)."""
    if torch.compiler.is_compiling() or not native_eligible(x):
        return nn.functional.max_pool2d(x, 2)
    if torch.is_grad_enabled() and x.requires_grad:
        return NativeMaxPool2.apply(x)
    return fast_native.library().maxpool2_forward(x, False)[0]  # evaluation: no winners to keep


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(kernel_size=2, stride=2)`` with the same results, computed by :func:`max_pool2x2`."""

    def __init__(self) -> None:
        super().__init__(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool2x2(x)
