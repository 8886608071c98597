"""The paper nets' 2×2 max-pool (mixact_lib.models.pooling): torch's results bit for bit, forward and backward."""
import pytest
import torch
import torch.nn.functional as F

from mixact_lib.activations import fast_native
from mixact_lib.models import build_model
from mixact_lib.models.pooling import MaxPool2x2, max_pool2x2, native_eligible

native = pytest.mark.skipif(fast_native.library() is None, reason="mixact's native CPU kernels cannot be built here")

SHAPES = [(8, 4, 28, 28), (8, 8, 14, 14), (8, 16, 7, 7), (8, 32, 3, 3), (3, 5, 5, 4), (2, 3, 2, 2), (3, 6, 9)]


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int32 if t.dtype == torch.float32 else torch.int64)


def inputs(shape, kind: str, dtype=torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=gen, dtype=dtype)
    if kind == "relu":  # half zeros: windows of equal maxima everywhere
        return torch.relu(x)
    if kind == "ties":  # five values only: ties at every level, of both signs
        return torch.randint(-2, 3, shape, generator=gen).to(dtype)
    if kind == "special":  # NaN, ±inf and -0 among them
        flat = x.view(-1)
        flat[::5], flat[1::6], flat[2::9], flat[3::11] = float("nan"), float("-inf"), float("inf"), -0.0
    return x


def torch_pool(x: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.clone().requires_grad_()
    y = F.max_pool2d(leaf, 2)
    y.backward(grad)
    return y.detach(), leaf.grad


def gradient_for(y: torch.Tensor) -> torch.Tensor:
    grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(7), dtype=y.dtype)
    grad.view(-1)[::7] = -0.0  # torch's dx is 0 + dy: -0 arrives as +0
    return grad


@native
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["randn", "relu", "ties", "special"])
def test_forward_and_backward_are_torchs_bit_for_bit(shape, kind):
    x = inputs(shape, kind)
    assert native_eligible(x)
    y_ref = F.max_pool2d(x, 2)
    grad = gradient_for(y_ref)
    y_ref, dx_ref = torch_pool(x, grad)
    leaf = x.clone().requires_grad_()
    y = max_pool2x2(leaf)
    assert y.grad_fn is not None and "NativeMaxPool2" in type(y.grad_fn).__name__  # the native path ran
    y.backward(grad)
    assert torch.equal(bits(y.detach()), bits(y_ref)) and torch.equal(bits(leaf.grad), bits(dx_ref))
    with torch.no_grad():  # evaluation: the forward without winners
        assert torch.equal(bits(max_pool2x2(x)), bits(y_ref))


@native
def test_float64_and_the_module_form():
    x = inputs((4, 3, 9, 10), "ties", torch.float64).requires_grad_()
    pool = MaxPool2x2()
    assert isinstance(pool, torch.nn.MaxPool2d) and pool.kernel_size == 2 and pool.stride == 2
    y = pool(x)
    grad = gradient_for(y)
    y.backward(grad)
    y_ref, dx_ref = torch_pool(x.detach(), grad)
    assert torch.equal(bits(y.detach()), bits(y_ref)) and torch.equal(bits(x.grad), bits(dx_ref))


@native
def test_a_different_tie_rule_is_caught():
    """The control: the last of equal maxima winning (torch takes the first) changes the gradient on ties, and
    the comparison used above sees it."""
    x = inputs((8, 4, 28, 28), "relu")
    y_ref = F.max_pool2d(x, 2)
    grad = gradient_for(y_ref)
    _, dx_ref = torch_pool(x, grad)
    flipped = x.flip(-1).flip(-2)  # scanning the flipped windows in torch's order = the last maximum first
    _, dx_last = torch_pool(flipped, grad.flip(-1).flip(-2))
    assert not torch.equal(bits(dx_last.flip(-1).flip(-2)), bits(dx_ref))


def test_other_inputs_go_to_torchs_pool():
    x = torch.randn(2, 3, 8, 8)
    assert not native_eligible(x.half()) and not native_eligible(x.to(memory_format=torch.channels_last))
    assert not native_eligible(torch.randn(2, 3, 1, 8))
    y = max_pool2x2(x.to(memory_format=torch.channels_last).requires_grad_())
    assert "NativeMaxPool2" not in type(y.grad_fn).__name__
    assert torch.equal(y, F.max_pool2d(x, 2))


@native
@pytest.mark.parametrize("model,activation", [("paper_c_convnet", "adact"), ("paper_c_convnet", "relu"),
                                              ("paper_a_net", "mix")])
def test_training_steps_match_torchs_pool_bit_for_bit(model, activation, monkeypatch):
    """Three AdamW steps of a paper net with the native pool and with torch's: the same weights, bit for bit."""
    def train(use_native: bool) -> dict:
        if not use_native:
            monkeypatch.setattr("mixact_lib.models.pooling.native_eligible", lambda x: False)
        torch.manual_seed(0)
        kwargs = {"channels": [4, 8, 8, 16]} if model == "paper_c_convnet" else {"channels": [4, 8], "hidden": 16}
        net = build_model(model, num_classes=10, in_channels=1, activation=activation, image_size=(28, 28), **kwargs)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(1)
        for _ in range(3):
            x, target = torch.randn(16, 1, 28, 28, generator=gen), torch.randint(0, 10, (16,), generator=gen)
            opt.zero_grad()
            F.cross_entropy(net(x), target).backward()
            opt.step()
        monkeypatch.undo()
        return {k: v.clone() for k, v in net.state_dict().items()}

    ours, theirs = train(True), train(False)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key



@native
def test_the_benchmark_times_both_pools_side_by_side(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "benchmarks/pooling.py", "--quick", "--out", str(tmp_path)], cwd=root,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads((tmp_path / "pooling-cpu.json").read_text())["runs"][0]
    assert {(r["mode"], tuple(r["shape"])) for r in run["pools"]} == {
        (m, s) for m in ("train", "eval") for s in ((4, 8, 16, 16), (4, 8, 7, 7))}
    assert all(r["torch_ms"] > 0 and r["native_ms"] > 0 and r["ratio"] > 0 for r in run["pools"] + run["steps"])
    assert run["loaded"] in (True, False, None) and "native ÷ torch" in proc.stdout


@native
def test_a_compiled_net_pools_with_torch_inside_the_graph():
    net = build_model("paper_c_convnet", num_classes=10, in_channels=1, activation="relu", image_size=(16, 16),
                      channels=[4, 4, 4, 4])
    x = torch.randn(2, 1, 16, 16)
    compiled = torch.compile(net, backend="eager", fullgraph=True)  # fullgraph: a graph break would raise
    assert torch.equal(compiled(x), net(x))
