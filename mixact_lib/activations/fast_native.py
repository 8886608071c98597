"""mixact's native CPU kernels: compiled once per machine, loaded in milliseconds by every later process.

The fused activations' eager path makes dozens of passes over its temporaries, and ``torch.compile``
makes one but costs every fresh process seconds of compiling. The kernels in ``native/*.cpp`` make one
pass each way, vectorised by the C++ compiler (AVX2/AVX-512 flags chosen from torch's own CPU capability),
threaded with ``at::parallel_for``. They are built with ``torch.utils.cpp_extension`` the first time a
process needs them, into ``$MIXACT_CACHE_DIR`` (default ``~/.cache/mixact``), under a name that carries the
source's hash, the instruction set, torch's version and Python's ABI, so a changed source or another machine
never loads a stale library. Later processes only load it.

Any failure (no C++ compiler, no ninja, a build error, ``MIXACT_NATIVE=0``) warns once and returns None;
callers then use the eager path (:mod:`.fast_core`). The build needs a C++20 compiler and ``ninja``.

Numerics (float32): the exponential is a degree-6 polynomial after a Cody-Waite reduction (relative
error ≈ 1.2e-7, arguments below −87 clamp to e^−87 ≈ 1.6e-38); sin/cos are Cephes' polynomials after a
three-part reduction by π/2, accurate to a few ulp for |x| < 2^13 and degrading slowly beyond. float64
uses the C library's exp, sin and cos.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
import time
import warnings
from pathlib import Path

import torch

#: the registry names whose fused kernel has a native version: the mixtures (``fast_mix``), the single
#: learnable activations (``fast_single``) and the rational ones (``fast_rational``, degrees (5, 4) only)
ACTIVATIONS = ("mix", "adact", "arelu", "asigmoid", "atanh", "pelu", "frelu", "swish_beta", "prelu", "acon_c",
               "pau", "kat_rational")
SOURCES = tuple(Path(__file__).parent / "native" / name
                for name in ("mix_cpu.cpp", "mix_core.h", "single_core.h", "rational_core.h", "pool_core.h"))
#: compiler flags per torch CPU capability (``torch.backends.cpu.get_cpu_capability()``)
ISA_FLAGS = {"AVX512": ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma"],
             "AVX2": ["-mavx2", "-mfma"]}
BASE_FLAGS = ["-O3", "-fopenmp", "-fno-trapping-math", "-fno-math-errno"]
#: -fopenmp at link time too: the kernels then share the OpenMP runtime torch already loaded (libgomp.so.1)
LINK_FLAGS = ["-fopenmp"]
# -fopenmp turns on ATen's OpenMP at::parallel_for (without it the header's parallel branch compiles away and
# every kernel runs on one thread whatever torch.set_num_threads says) as well as the `omp simd` loops.
# -fno-trapping-math lets the compiler evaluate both sides of a select (no FP exception is ever read), which
# the vectoriser needs; results are unchanged. torch adds its own -std (C++20 for torch 2.14).

_lib = None
_failed: str | None = None
_lock = threading.Lock()
#: seconds the last :func:`library` call spent building or loading (``build`` or ``load``), for benchmarks
timings: dict[str, float] = {}


def cache_dir() -> Path:
    """Where built kernels live: ``$MIXACT_CACHE_DIR``, else ``~/.cache/mixact`` (``$XDG_CACHE_HOME`` honoured)."""
    root = os.environ.get("MIXACT_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mixact"


def build_name() -> str:
    """The library's name: source hash, instruction set, torch version and Python ABI."""
    digest = hashlib.sha256()
    for source in SOURCES:
        digest.update(source.read_bytes())
    isa = torch.backends.cpu.get_cpu_capability()
    tag = f"{isa}_{torch.__version__}_{sys.implementation.cache_tag}"
    digest.update(" ".join(BASE_FLAGS + ISA_FLAGS.get(isa, []) + LINK_FLAGS).encode())
    return "mixact_native_" + "".join(ch if ch.isalnum() else "_" for ch in tag) + "_" + digest.hexdigest()[:12]


def enabled() -> bool:
    """False when ``MIXACT_NATIVE=0`` (or ``false``/``no``/``off``) turns the native kernels off."""
    return os.environ.get("MIXACT_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def failure() -> str | None:
    """Why the native kernels are unavailable in this process (None: available or not tried yet)."""
    return _failed


def library():
    """The built extension module, building it on first use; None (after one warning) when it cannot be had."""
    global _lib, _failed
    if _lib is not None or _failed is not None:
        return _lib
    with _lock:
        if _lib is not None or _failed is not None:
            return _lib
        if not enabled():
            _failed = "turned off by MIXACT_NATIVE"
            return None
        start = time.perf_counter()
        try:
            _lib = _build()
        except Exception as err:  # noqa: BLE001 - any failure means: use the eager path
            _failed = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
            warnings.warn(f"mixact's native CPU kernels are unavailable ({_failed}); using the slower eager path. "
                          "They need a C++20 compiler and ninja (pip install ninja); set MIXACT_NATIVE=0 to "
                          "silence this.", RuntimeWarning, stacklevel=3)
            return None
        timings["load"] = time.perf_counter() - start
        return _lib


def _build():
    from torch.utils import cpp_extension

    name = build_name()
    folder = cache_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    built = folder / f"{name}{_suffix()}"
    if built.exists():  # built before, by this or another process: load it without asking ninja
        import importlib.util

        spec = importlib.util.spec_from_file_location(name, built)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    if shutil.which("ninja") is None:  # the ninja wheel puts its binary next to this Python
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    isa = torch.backends.cpu.get_cpu_capability()
    start = time.perf_counter()
    module = cpp_extension.load(name=name, sources=[str(s) for s in SOURCES if s.suffix == ".cpp"],
                                build_directory=str(folder),
                                extra_cflags=BASE_FLAGS + ISA_FLAGS.get(isa, []),
                                extra_ldflags=LINK_FLAGS, verbose=False)
    timings["build"] = time.perf_counter() - start
    return module


def _suffix() -> str:
    import importlib.machinery

    return importlib.machinery.EXTENSION_SUFFIXES[0] if sys.platform == "win32" else ".so"


def pack(x, params, rows: int, index) -> tuple | None:
    """(x as a contiguous float32/float64 tensor, the parameters as one (rows, C) matrix), or None.

    The native kernels take every parameter as a row of one matrix (row ``index[k]`` for ``params[k]``,
    other rows 0): C = 1 when all are scalars, else the channel count of dim 1, each parameter then a
    scalar or a per-channel view. float16/bfloat16 inputs are computed in float32. None where the kernels
    cannot take the input (another dtype, 2^32 elements or more, a parameter of another shape).
    """
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    if work.dtype not in (torch.float32, torch.float64) or x.numel() >= 1 << 32:
        return None
    channels = 1
    for p in params:
        if p.numel() > 1:
            if x.dim() < 2 or p.numel() != x.shape[1] or p.shape[1:2] != x.shape[1:2]:
                return None
            channels = x.shape[1]
    matrix = work.new_zeros(rows, channels)
    for k, p in zip(index, params):
        matrix[k] = p.detach().reshape(-1).to(work.dtype)
    return work.contiguous(), matrix


def unpack_grads(sums, params, index, needs) -> list:
    """The parameters' gradients from the kernel's (rows, C) sums: summed over C for scalars, None if not needed."""
    return [((sums[k].sum() if p.numel() == 1 else sums[k]).reshape(p.shape).to(p.dtype)) if need else None
            for k, p, need in zip(index, params, needs)]


def reset() -> None:
    """Forget the loaded library and any failure (tests use it to exercise the fallback)."""
    global _lib, _failed
    _lib, _failed = None, None
