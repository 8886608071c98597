"""The native C++ mixture kernel (``mixact_lib/activations/native``) against the reference and the eager path.

The native kernel is the default CPU path (backend ``auto``), so these tests require it to build here:
a machine without a C++20 compiler fails them, with the reason, instead of silently testing the eager
path only. Its fallback is tested by breaking the build on purpose.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

from mixact_lib.activations import fast_core, fast_native, make_activation
from mixact_lib.activations.fast_core import RandomSlopes

from test_fast import grads as _values  # output, input gradient and every parameter gradient

ALL = ["relu", "lrelu", "prelu", "rrelu", "elu", "silu", "mish", "sigmoid", "tanh", "sin"]
# 2-D through 5-D, size-1 dimensions, sizes that are not a multiple of any vector width (8, 16)
SHAPES = [(5, 3), (1, 3), (4, 3, 7), (3, 3, 1), (2, 3, 5, 7), (1, 3, 1, 1), (2, 3, 3, 4, 5), (2, 3, 17, 1, 3)]
MIXTURES = [("adact", {}), ("adact", {"per_channel": True, "num_channels": 3}), ("mix", {}),
            ("mix", {"per_channel": True, "num_channels": 3}),
            ("mix", {"members": ALL, "member_kwargs": {"prelu": {"num_parameters": 3}}})]
MIX_IDS = ["adact", "adact-per-channel", "mix", "mix-per-channel", "mix-every-member"]


@pytest.fixture(scope="module")
def lib():
    library = fast_native.library()
    assert library is not None, f"the native kernels did not build: {fast_native.failure()}"
    return library


@pytest.fixture
def backend():
    """Set the fast backend for one test and restore it after."""
    old = fast_core.fast_backend()
    yield fast_core.set_fast_backend
    fast_core.set_fast_backend(old)


def _pair(name, kw, dtype, seed=0):
    ref = make_activation(name, impl="reference", **kw).to(dtype)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(dtype))
    fast = make_activation(name, impl="fast", **kw).to(dtype)
    fast.load_state_dict(ref.state_dict())
    return fast, ref


def _close(a_values, b_values, rtol, atol):
    for i, (a, b) in enumerate(zip(a_values, b_values, strict=True)):
        if b is None:
            assert a is None or not a.any(), f"value {i}: the reference has no gradient"
            continue
        torch.testing.assert_close(a.to(b.dtype), b, rtol=rtol, atol=atol, equal_nan=True,
                                   msg=lambda m: f"value {i}: {m}")


def _inputs(shape, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(shape, generator=gen, dtype=torch.float64)
    special = torch.tensor([0.0, -0.0, 1e-8, -1e-8, 30.0, -30.0, 100.0, -100.0], dtype=torch.float64)
    k = min(x.numel(), special.numel())
    x.view(-1)[:k] = special[:k]
    return x.to(dtype), torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype,rtol,atol", [(torch.float32, 1e-5, 1e-5), (torch.float64, 1e-10, 1e-10)],
                         ids=["float32", "float64"])
@pytest.mark.parametrize("name,kw", MIXTURES, ids=MIX_IDS)
def test_native_matches_the_reference_in_every_shape_and_dtype(lib, backend, name, kw, shape, dtype, rtol, atol):
    backend("native")
    fast, ref = _pair(name, kw, dtype)
    fast.eval(), ref.eval()
    x, g = _inputs(shape, dtype)
    _close(_values(fast, x, g), _values(ref, x, g), rtol, atol)


SINGLES = [("arelu", {}), ("asigmoid", {}), ("atanh", {}), ("pelu", {}), ("frelu", {}),
           ("frelu", {"num_parameters": 3}), ("swish_beta", {}), ("prelu", {}), ("prelu", {"num_parameters": 3})]
SINGLE_IDS = ["arelu", "asigmoid", "atanh", "pelu", "frelu", "frelu-per-channel", "swish_beta", "prelu",
              "prelu-per-channel"]
# acon_c, pau and kat_rational have their own file, tests/test_rational.py: at |x| = 30 … 100 their float32
# reference is off by more than 1e-5 (the native kernel is closer), so it compares both with a float64 truth


@pytest.mark.parametrize("shape", SHAPES[::2], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype,rtol,atol", [(torch.float32, 1e-5, 1e-5), (torch.float64, 1e-10, 1e-10)],
                         ids=["float32", "float64"])
@pytest.mark.parametrize("name,kw", SINGLES, ids=SINGLE_IDS)
def test_native_single_activations_match_the_reference(lib, backend, name, kw, shape, dtype, rtol, atol):
    backend("native")
    fast, ref = _pair(name, kw, dtype)
    x, g = _inputs(shape, dtype)
    _close(_values(fast, x, g), _values(ref, x, g), rtol, atol)


@pytest.mark.parametrize("name,kw", SINGLES + MIXTURES, ids=SINGLE_IDS + MIX_IDS)
def test_the_eager_path_still_matches_the_reference(backend, name, kw):
    """The fallback path, tested on its own now that the default CPU path is native."""
    backend("eager")
    fast, ref = _pair(name, kw, torch.float32)
    fast.eval(), ref.eval()
    x, g = _inputs((4, 3, 6, 5), torch.float32)
    _close(_values(fast, x, g), _values(ref, x, g), 1e-5, 1e-5)


@pytest.mark.parametrize("name,kw", MIXTURES[:3], ids=MIX_IDS[:3])
def test_native_bfloat16_gradients_within_the_stated_tolerance(lib, backend, name, kw):
    """bfloat16 in, computed in float32, rounded to bfloat16 out: within 1.6e-2 relative (2^-6), 1e-2 absolute."""
    backend("native")
    fast, _ = _pair(name, kw, torch.float32)
    _, ref = _pair(name, kw, torch.float64)
    fast.eval(), ref.eval()
    x, g = _inputs((4, 3, 6, 5), torch.bfloat16)
    values = _values(fast, x, g)
    assert values[0].dtype == torch.bfloat16 and values[1].dtype == torch.bfloat16
    _close(values, _values(ref, x.double(), g.double()), rtol=1.6e-2, atol=1e-2)


@pytest.mark.parametrize("name,kw", MIXTURES, ids=MIX_IDS)
def test_native_and_eager_paths_agree_in_training_mode_random_slopes_included(lib, backend, name, kw):
    fast, _ = _pair(name, kw, torch.float32)
    fast.train()
    x, g = _inputs((4, 3, 9, 7), torch.float32)
    backend("native")
    native = _values(fast, x, g, seed=11)
    backend("eager")
    eager = _values(fast, x, g, seed=11)
    _close(native, eager, 1e-5, 1e-5)


def test_training_mode_matches_the_reference_with_the_kernels_own_slopes(lib, backend):
    backend("native")
    fast, ref = _pair("adact", {}, torch.float32)
    fast.train(), ref.train()
    x, g = _inputs((3, 3, 8, 8), torch.float32)
    values = _values(fast, x, g, seed=5)
    torch.manual_seed(5)
    slopes = RandomSlopes(1 / 8, 1 / 3).draw(x)  # the same seed draw as the module's forward makes
    ref.members["rrelu"].forward = lambda t: torch.where(t > 0, t, slopes * t)
    _close(values, _values(ref, x, g), 1e-5, 1e-5)


def test_random_codes_are_the_same_in_cpp_and_numpy(lib):
    for seed in (0, 1, 2**40 + 3, 2**63 - 2):
        codes = RandomSlopes(0.1, 0.3, seed).codes(torch.empty(70_000))
        assert torch.equal(lib.rrelu_codes(70_000, seed), codes)
        assert RandomSlopes(0.1, 0.3, seed).codes(torch.empty(100), start=69_900).equal(codes[69_900:])
    codes = RandomSlopes(0.1, 0.3, 9).codes(torch.empty(1 << 16)).double()
    assert abs(codes.mean()) < 3 * 18919 / 256 and abs(codes.std() - 65536 / 12**0.5) < 300  # uniform on 2^16


def test_the_default_cpu_path_is_native(lib, backend):
    backend("auto")
    assert fast_core.fast_path("cpu") == "native"
    backend("eager")
    assert fast_core.fast_path("cpu") == "eager"
    backend("compile")
    assert fast_core.fast_path("cpu") == "compile"
    backend("auto")
    calls = []
    real = fast_native.library

    def spy():
        calls.append(1)
        return real()

    fast_native.library, original = spy, fast_native.library
    try:
        make_activation("adact")(torch.randn(2, 3, 4, requires_grad=True)).sum().backward()
    finally:
        fast_native.library = original
    assert calls, "an AdAct forward and backward on CPU never asked for the native kernel"


def test_a_failed_build_warns_once_and_runs_eager(monkeypatch, backend):
    backend("auto")
    monkeypatch.setattr(fast_native, "_lib", None)
    monkeypatch.setattr(fast_native, "_failed", None)

    def broken():
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(fast_native, "_build", broken)
    fast, ref = _pair("adact", {}, torch.float32)
    fast.eval(), ref.eval()
    x, g = _inputs((2, 3, 5, 5), torch.float32)
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        values = _values(fast, x, g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = _values(fast, x, g)  # no second warning
    assert fast_core.fast_path("cpu") == "eager" and "no compiler here" in fast_native.failure()
    _close(values, _values(ref, x, g), 1e-5, 1e-5)
    _close(again, values, 0, 0)


def test_turning_native_off_needs_no_warning(monkeypatch, backend):
    backend("auto")
    monkeypatch.setenv("MIXACT_NATIVE", "0")
    monkeypatch.setattr(fast_native, "_lib", None)
    monkeypatch.setattr(fast_native, "_failed", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fast_core.fast_path("cpu") == "eager"


def test_a_fresh_process_loads_the_built_library_without_building(lib, tmp_path):
    code = ("import json, torch; from mixact_lib.activations import fast_native, make_activation;"
            "make_activation('adact')(torch.randn(2, 3, 4, requires_grad=True)).sum().backward();"
            "print(json.dumps({'timings': fast_native.timings, 'failure': fast_native.failure()}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["failure"] is None and "build" not in report["timings"] and "load" in report["timings"]


def test_build_names_change_with_the_source(monkeypatch, tmp_path):
    name = fast_native.build_name()
    copy = tmp_path / "mix_cpu.cpp"
    copy.write_text(fast_native.SOURCES[0].read_text() + "\n// changed\n")
    monkeypatch.setattr(fast_native, "SOURCES", (copy, *fast_native.SOURCES[1:]))
    assert fast_native.build_name() != name and fast_native.build_name().startswith("mixact_native_")


@pytest.fixture
def threads():
    """Set torch's intra-op thread count for one test and restore it after."""
    old = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(old)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_the_kernels_use_the_threads_torch_allows(lib, threads):
    # built without OpenMP, at::parallel_for compiles to a plain call and this reads 1 at any thread count
    threads(2)
    assert lib.parallel_threads(64) == 2, "two threads allowed, the kernels' parallel loop called fewer"
    assert lib.parallel_threads(1) == 1, "one item needs one thread"
    threads(1)
    assert lib.parallel_threads(64) == 1


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
@pytest.mark.parametrize("name,kw,shape", [
    ("adact", {}, (8, 4, 64, 64)), ("adact", {"per_channel": True, "num_channels": 4}, (8, 4, 64, 64)),
    ("adact", {"per_channel": True, "num_channels": 4096}, (64, 4096)), ("mix", {}, (8, 4, 64, 64)),
    ("arelu", {}, (8, 4, 64, 64)), ("pau", {}, (8, 4, 64, 64))], ids=lambda v: str(v) if isinstance(v, str) else "")
def test_two_threads_give_the_one_thread_results(lib, backend, threads, name, kw, shape):
    backend("auto")
    fast, _ = _pair(name, kw, torch.float32)
    fast.eval()  # RReLU's slopes are drawn per call in training; eval keeps the two calls comparable
    x, g = _inputs(shape, torch.float32)
    threads(1)
    one = _values(fast, x, g)
    threads(2)
    two = _values(fast, x, g)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1]), "outputs or input gradients differ"
    if len(shape) > 2:  # blocks' partial sums are added in block order whichever thread ran them: the same bits
        for i, (a, b) in enumerate(zip(one[2:], two[2:])):
            assert torch.equal(a, b), f"parameter gradient {i} differs between 1 and 2 threads"
    else:  # (N, C) inputs: each thread sums its samples, then the threads' sums are added
        _close(two[2:], one[2:], 1e-5, 1e-5)
