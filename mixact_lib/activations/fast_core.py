"""The machinery every fast activation shares (after timm's ``activations_me.py``).

Each fast activation is three pure functions and a module:

- ``fwd(x, params, static) -> y``
- ``bwd(x, params, static, grad, needs) -> (dx, dparam_1, ...)``, with analytic
  parameter gradients (reductions over the input), ``None`` where ``needs`` is False;
- ``ref(x, params, static) -> y``, the same function in plain differentiable torch;
- a module that subclasses the reference class and calls :func:`fused_apply`.

:class:`FusedActivation` saves only ``x`` and the O(1) parameters and recomputes
everything else in backward, so a layer keeps one input-sized tensor instead of
one per intermediate. Its backward is not itself differentiable: under
``create_graph=True`` it differentiates ``ref`` instead, so double backward
gives the reference's answer.

Backends. ``native`` runs a kernel's C++ version (:mod:`.fast_native`; every fused activation has
one): one vectorised pass each way, built once per machine and then loaded in milliseconds.
``eager`` runs the hand-fused functions as they are: a few dozen
cheap passes sharing one ``sigmoid``, no ``torch.where`` (slow on CPU), walked
in cache-sized pieces on CPU, no compile cost. ``compile`` runs them through
``torch.compile(dynamic=True)``: one fused loop each way, compiled lazily on
first use, cached per process (one graph per member set, dtype and rank; batch
size is dynamic). On CPU it is 2–4× faster per call than eager, but a fresh
process pays ~6 s of compile for adact + mix with a warm inductor cache and
~32 s on a fresh machine (``benchmarks/README.md``). ``auto`` (the default) compiles on accelerators,
and on CPU runs the native kernel where one exists and can be built, eager otherwise. Pick with
``MIXACT_FAST_BACKEND=auto|native|eager|compile`` or :func:`set_fast_backend`. A compile or build
failure warns once and falls back to eager.

Fallback to the reference forward (see :func:`fused_ok`): inside
``torch.compile``/``torch.export`` tracing (the reference is what the tracer
should see; inductor fuses it and its partitioner recomputes pointwise ops
anyway), TorchScript tracing, ONNX export and functorch transforms.
"""
from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

BACKENDS = ("auto", "native", "eager", "compile")
_backend = os.environ.get("MIXACT_FAST_BACKEND", "auto").strip().lower() or "auto"
if _backend not in BACKENDS:
    raise ValueError(f"MIXACT_FAST_BACKEND={_backend!r} is not a backend; choose one of {', '.join(BACKENDS)}")

_compiled: dict[Callable, Callable] = {}
_broken: set[Callable] = set()
#: seconds spent in calls that compiled (first call, or a new plan/dtype/rank), by function name
compile_seconds: dict[str, float] = {}


def set_fast_backend(name: str) -> str:
    """Choose how fast activations run their kernels: ``"auto"``, ``"eager"`` or ``"compile"``. Returns the old one."""
    global _backend
    name = name.strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown fast backend {name!r}; choose one of {', '.join(BACKENDS)}")
    old, _backend = _backend, name
    return old


def fast_backend() -> str:
    return _backend


def _compiles_on(device_type: str) -> bool:
    return _backend == "compile" or (_backend == "auto" and device_type != "cpu")


def _compiles(x: Tensor) -> bool:
    return _compiles_on(x.device.type)


def _native(kernel, x: Tensor):
    """The kernel's native version when the backend and x allow it and the library loads; else None."""
    return kernel.native if kernel.native is not None and fast_path(x.device) == "native" else None


def fast_path(device: str | torch.device = "cpu") -> str:
    """What the fused activations actually run on ``device`` under the current backend: native, eager or compile.

    Resolving ``native`` builds or loads the library once per process (:func:`.fast_native.library`).
    """
    device_type = torch.device(device).type
    if _compiles_on(device_type):
        return "compile"
    if _backend in ("auto", "native") and device_type == "cpu":
        from . import fast_native

        return "native" if fast_native.library() is not None else "eager"
    return "eager"


def _run(fn: Callable, x: Tensor, *args):
    """Call ``fn(x, *args)`` eagerly or through its cached compiled version, per the backend."""
    if not _compiles(x) or fn in _broken:
        return fn(x, *args)
    from torch._dynamo.utils import counters

    compiled = _compiled.get(fn)
    if compiled is None:
        compiled = _compiled[fn] = torch.compile(fn, dynamic=True)
    graphs = counters["stats"]["unique_graphs"]
    start = time.perf_counter()
    try:
        out = compiled(x, *args)
    except Exception as err:  # a compiler problem must not stop training: warn once, run eager
        _broken.add(fn)
        warnings.warn(f"torch.compile of {fn.__qualname__} failed ({type(err).__name__}: {err}); "
                      "using the eager fast path for it", RuntimeWarning, stacklevel=3)
        return fn(x, *args)
    if counters["stats"]["unique_graphs"] != graphs:  # this call compiled (a new plan, dtype or rank)
        compile_seconds[fn.__qualname__] = compile_seconds.get(fn.__qualname__, 0.0) + time.perf_counter() - start
    return out


def fused_ok(x: Tensor) -> bool:
    """False where the fused autograd.Function cannot or should not run; use the reference then."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        return False
    if torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.jit.is_scripting():
        return False
    if torch.onnx.is_in_onnx_export():
        return False
    functorch_active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return not (functorch_active is not None and functorch_active())


class Kernel(NamedTuple):
    """The pure functions of one fast activation (see the module docstring)."""

    fwd: Callable
    bwd: Callable
    ref: Callable
    #: optional ``prepare(x, static, start) -> static`` run per piece; ``start`` is the piece's
    #: flat offset in the whole input (random slopes are a function of the element's offset)
    prepare: Callable | None = None
    #: optional C++ version for CPU (:mod:`.fast_native`): an object with ``fwd(x, params, static)`` and
    #: ``bwd(x, params, static, grad, needs)``, each returning None where it cannot take the input
    native: object | None = None


class FusedActivation(torch.autograd.Function):
    """y = kernel.fwd(x, params); saves (x, *params) only; backward = kernel.bwd, recomputing.

    ``static`` is whatever the kernel needs besides tensors to save: a plan, a
    seed for random slopes. ``kernel.prepare`` turns it into what fwd/bwd take
    (e.g. draws the random slopes from the seed), in forward and again in
    backward, so a random draw costs compute, not memory.
    """

    @staticmethod
    def forward(ctx, kernel, static, x: Tensor, *params: Tensor) -> Tensor:
        ctx.kernel, ctx.static = kernel, static
        ctx.save_for_backward(x, *params)
        native = _native(kernel, x)
        if native is not None:
            y = native.fwd(x, params, static)
            if y is not None:
                return y
        pieces, xv, unit = _pieces(x, params)
        if len(pieces) == 1:
            return _call(kernel.fwd, kernel, static, 0, x, params).to(x.dtype)
        y = torch.empty_like(xv)
        for i, j in pieces:
            y[i:j] = _call(kernel.fwd, kernel, static, i * unit, xv[i:j], params)
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, *params = ctx.saved_tensors
        kernel, static = ctx.kernel, ctx.static
        needs = tuple(ctx.needs_input_grad[2:])
        if torch.is_grad_enabled():  # create_graph=True: differentiate the reference formula instead
            return (None, None, *_reference_grads(kernel, static, x, params, grad, needs))
        native = _native(kernel, x)
        if native is not None:
            grads = native.bwd(x, params, static, grad, needs)
            if grads is not None:
                return (None, None, *grads)
        pieces, xv, unit = _pieces(x, params)
        if len(pieces) == 1:
            grads = _call(kernel.bwd, kernel, static, 0, x, params, grad, needs)
            return (None, None, *(g.to(t.dtype) if g is not None and n else None
                                  for g, t, n in zip(grads, (x, *params), needs)))
        gv = grad.reshape(xv.shape)
        dx = torch.empty_like(xv) if needs[0] else None
        sums: list[Tensor | None] = [None] * len(params)
        for i, j in pieces:
            grads = _call(kernel.bwd, kernel, static, i * unit, xv[i:j], params, gv[i:j], needs)
            if dx is not None:
                dx[i:j] = grads[0]
            for k, g in enumerate(grads[1:]):
                if g is not None and needs[k + 1]:
                    sums[k] = g if sums[k] is None else sums[k].add_(g)
        sums = [None if g is None else g.to(p.dtype) for g, p in zip(sums, params)]
        return (None, None, None if dx is None else dx.view(x.shape), *sums)


#: elements per piece when the eager CPU path walks a large input in cache-sized pieces
CHUNK = int(os.environ.get("MIXACT_FAST_CHUNK", 1 << 17))


def _pieces(x: Tensor, params) -> tuple[list[tuple[int, int]], Tensor, int]:
    """Index ranges to run the kernel on, the view of x they index, and elements per index.

    Eager kernels make 20–50 passes over their temporaries; on CPU, a 6 MB input's
    temporaries fall out of cache and each pass then costs a trip to memory.
    Pieces of ``CHUNK`` elements (flat when every parameter is a scalar, else
    along dim 0 so per-channel parameters still broadcast) keep them in cache.
    """
    n = x.numel()
    if _compiles(x) or x.device.type != "cpu" or n <= 2 * CHUNK or x.dim() == 0:
        return [(0, n)], x, 1
    if all(p.numel() == 1 for p in params):
        xv, size, step = x.reshape(-1), n, CHUNK
    else:
        xv, size, step = x, x.shape[0], max(1, CHUNK * x.shape[0] // n)
    return [(i, min(i + step, size)) for i in range(0, size, step)], xv, n // size


def _call(fn, kernel, static, start, x, params, *rest):
    if x.dtype in (torch.float16, torch.bfloat16):  # compute in float32
        x, params = x.float(), tuple(p.float() for p in params)
        rest = tuple(r.float() if isinstance(r, Tensor) else r for r in rest)
    if kernel.prepare is not None:
        static = kernel.prepare(x, static, start)
    return _run(fn, x, tuple(params), static, *rest)


def _reference_grads(kernel, static, x, params, grad, needs):
    inputs = [t for t, n in zip((x, *params), needs) if n]
    if not inputs:
        return [None] * len(needs)
    if kernel.prepare is not None:  # the same slopes as forward drew (they depend on offsets only)
        static = kernel.prepare(x.detach().float() if x.dtype in (torch.float16, torch.bfloat16) else x, static, 0)
    with torch.enable_grad():
        y = kernel.ref(x, tuple(params), static)
        found = iter(torch.autograd.grad(y, inputs, grad, create_graph=True, allow_unused=True))
    grads = []
    for t, n in zip((x, *params), needs):
        g = next(found) if n else None
        grads.append(torch.zeros_like(t) if n and g is None else g)
    return grads


def fused_apply(kernel, static, x: Tensor, *params: Tensor) -> Tensor:
    """Run ``kernel`` on ``x`` through :class:`FusedActivation` (params cast to ``x``'s dtype)."""
    low = x.dtype in (torch.float16, torch.bfloat16)
    params = tuple(p if p.dtype == x.dtype or low else p.to(x.dtype) for p in params)
    return FusedActivation.apply(kernel, static, x, *params)


# ----------------------------------------------------------------- reductions


def reduce_to(grad: Tensor, feature: Tensor, like: Tensor) -> Tensor:
    """Σ grad·feature summed down to ``like``'s shape (the gradient of a broadcast coefficient)."""
    if like.numel() == 1 and not torch.compiler.is_compiling():
        # dot reads both operands once and allocates nothing
        out = torch.dot(grad.reshape(-1), feature.reshape(-1))
        return out.reshape(like.shape)
    return (grad * feature).sum_to_size(like.shape)


def total(t: Tensor, like: Tensor) -> Tensor:
    """Σ t summed down to ``like``'s shape."""
    return t.sum().reshape(like.shape) if like.numel() == 1 else t.sum_to_size(like.shape)


def channel_view(p: Tensor, ndim: int) -> Tensor:
    """A per-channel (C,) parameter viewed to broadcast over dim 1 of an ndim input; scalars become 0-dim."""
    if p.numel() == 1:
        return p.reshape(())
    return p.reshape(1, -1, *([1] * (ndim - 2)))


# ------------------------------------------------------------ random slopes


class RandomSlopes:
    """Per-element slopes r ~ U(lower, upper) that can be drawn again, identically, from a seed.

    ``torch.nn.functional.rrelu`` in training draws r per element and *saves* the
    noise tensor for backward. Here a 63-bit seed is drawn from torch's global CPU
    generator (so ``torch.manual_seed`` makes runs reproducible) and the slopes
    are a pure function of (seed, element offset): forward draws them, backward
    draws them again, and nothing input-sized is kept.

    Distribution (documented difference from torch's draw): on CPU r takes one of
    2^16 equally spaced values lower + (upper − lower)·(k + 2^15 + ½)/2^16, where the code k is the top 16
    bits of ``lowbias32(i ^ key)`` (Wellons' 32-bit integer hash; i the element's flat index modulo 2^32,
    key a hash of the seed), read as a signed integer in −2^15 … 2^15 − 1. This counter-based draw is
    the same in numpy (here, the eager path) and in the native C++ kernel, which computes it inside its
    loop: the same mean as U(lower, upper), a variance smaller by a factor 1 − 2^−32, a grid 65536 times
    finer than the interval. On CUDA r = lower + (upper − lower)·u with u = ``torch.rand`` (Philox) for
    the whole tensor. These are not torch's own draws: fast and reference runs in training mode consume
    the global generator differently, and tests compare them with the same slopes (``tests/test_fast.py``).
    """

    __slots__ = ("seed", "lower", "upper")

    def __init__(self, lower: float, upper: float, seed: int | None = None):
        self.lower, self.upper = float(lower), float(upper)
        if seed is None:  # from the CPU generator on every device: no GPU sync; manual_seed seeds it
            seed = int(torch.randint(0, 2**63 - 1, ()))
        self.seed = seed

    def codes(self, like: Tensor, start: int = 0) -> Tensor:
        """Random codes for the elements start … start + like.numel() − 1 of the input, shaped like ``like``.

        int16 codes k on CPU (slope = offset + scale·k), float32 u in [0, 1) on CUDA
        (slope = lower + span·u); :meth:`affine` gives (offset, scale).
        """
        n = like.numel()
        if like.device.type != "cpu":
            if start:
                raise ValueError("random slopes on an accelerator are drawn for the whole tensor (start=0)")
            generator = torch.Generator(device=like.device).manual_seed(self.seed)
            return torch.rand(like.shape, generator=generator, device=like.device, dtype=torch.float32)
        index = np.arange(start, start + n, dtype=np.uint64).astype(np.uint32)  # modulo 2^32, as in C++
        h = _lowbias32(index ^ np.uint32(_key(self.seed)))
        return torch.from_numpy((h >> np.uint32(16)).astype(np.uint16).view(np.int16)).view(like.shape)

    def affine(self, device: torch.device) -> tuple[float, float]:
        """(offset, scale) with slope = offset + scale·code."""
        span = self.upper - self.lower
        if device.type != "cpu":
            return self.lower, span
        # k is uniform on −2^15 … 2^15 − 1: the cell centres of a 2^16-cell grid over [lower, upper]
        return self.lower + span * (32768.5 / 65536), span / 65536

    def draw(self, like: Tensor, start: int = 0) -> Tensor:
        """The slopes themselves (same shape and dtype as ``like``)."""
        offset, scale = self.affine(like.device)
        return self.codes(like, start).to(like.dtype).mul_(scale).add_(offset)


def _lowbias32(h):
    """Chris Wellons' lowbias32 integer hash on uint32 numpy arrays (or ints): the same as native/mix_core.h."""
    h = np.asarray(h, dtype=np.uint32)
    with np.errstate(over="ignore"):  # multiplication modulo 2^32 is the point
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x7FEB352D)
        h = h ^ (h >> np.uint32(15))
        h = h * np.uint32(0x846CA68B)
        return h ^ (h >> np.uint32(16))


def _key(seed: int) -> int:
    """The per-seed key of the counter-based codes: lowbias32(low 32 bits ^ lowbias32(high 32 bits))."""
    seed &= (1 << 64) - 1
    return int(_lowbias32(np.uint32(seed & 0xFFFFFFFF) ^ _lowbias32(np.uint32(seed >> 32))))
