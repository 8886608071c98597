"""Reference activations: formulas, gradients, registry and model tools (issue: foundation)."""
from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixact_lib.activations import (
    ADACT_MEMBERS,
    AReLU,
    NORMS,
    Mix,
    activation_parameters,
    available_activations,
    dominant,
    fixed_from,
    freeze,
    make_activation,
    network_parameters,
    swap_activations,
)

LEARNABLE = ["prelu", "swish_beta", "pelu", "frelu", "asigmoid", "atanh", "arelu", "mix", "adact"]
ALL_NAMES = [
    "relu", "tanh", "sin", "sigmoid", "lrelu", "elu", "silu", "mish", "rrelu",
    *LEARNABLE,
]


def ref(name, **kw):
    return make_activation(name, impl="reference", **kw)


def test_every_documented_name_is_registered():
    assert set(ALL_NAMES) <= set(available_activations())
    assert make_activation("swish").name == "silu"
    assert make_activation("LReLU").negative_slope == 0.01


@pytest.mark.parametrize("name", ALL_NAMES)
def test_shape_and_dtype_preserved(name):
    x = torch.randn(3, 4, 5, 6)
    y = ref(name)(x)
    assert y.shape == x.shape and y.dtype == x.dtype


def _perturb(module: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("name", LEARNABLE)
def test_gradcheck_float64_input_and_parameters(name):
    torch.manual_seed(0)
    m = ref(name).double().eval()  # eval: rrelu inside adact is deterministic
    _perturb(m)
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    x = x + 0.05 * torch.sign(x)  # keep away from the kinks at 0
    x.requires_grad_(True)
    params = list(m.parameters())
    assert params, f"{name} has no parameters"
    # w.r.t. the input with parameters fixed, then w.r.t. every parameter via functional_call
    assert torch.autograd.gradcheck(lambda x: m(x), (x,))
    names = [n for n, _ in m.named_parameters()]
    values = [p.detach().clone().requires_grad_(True) for p in params]

    def g(*vals):
        return torch.func.functional_call(m, dict(zip(names, vals)), (x.detach(),))

    assert torch.autograd.gradcheck(g, tuple(values))


@pytest.mark.parametrize("name", ["asigmoid", "atanh", "arelu", "prelu", "swish_beta", "pelu", "frelu", "mix", "adact"])
def test_default_init_gives_every_parameter_a_gradient(name):
    torch.manual_seed(1)
    m = ref(name).train()
    x = torch.randn(256)
    upstream = torch.randn(256)  # a generic dL/dy; y² would be blind where y = 0
    (m(x) * upstream).sum().backward()
    for pname, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}.{pname} gets no gradient at init"


def test_paper_b_formulas_at_random_parameters():
    z = torch.linspace(-3, 3, 101)
    a, b, c, d = 1.7, -0.6, 0.3, 0.2
    sig = ref("asigmoid", a=a, b=b, c=c, d=d)
    assert torch.allclose(sig(z), b / (1 + torch.exp(-(a * z + c))) + d, atol=1e-6)
    th = ref("atanh", a=a, b=b, c=c, d=d)
    assert torch.allclose(th(z), b * torch.tanh(a * z + c) + d, atol=1e-6)
    ar = ref("arelu", a=a, b=b, c=c, d=d)
    expected = torch.stack([a * z + c, b * z + d]).max(0).values
    assert torch.allclose(ar(z), expected)


def test_classic_starts():
    z = torch.randn(1000)
    assert torch.allclose(ref("asigmoid")(z), torch.sigmoid(z))
    assert torch.allclose(ref("atanh")(z), torch.tanh(z))
    assert torch.equal(ref("arelu")(z), F.relu(z))
    assert torch.allclose(ref("arelu", b=0.25)(z), F.leaky_relu(z, 0.25))  # PReLU start (eq. 14)
    assert torch.allclose(ref("swish_beta")(z), F.silu(z))
    assert torch.allclose(ref("pelu")(z), F.elu(z), atol=1e-6)
    assert torch.equal(ref("frelu")(z), F.relu(z))


def test_arelu_tied_init_is_refused():
    with pytest.raises(ValueError, match="ties both branches"):
        make_activation("arelu", a=1.0, b=1.0, c=0.0, d=0.0)
    with pytest.raises(ValueError, match="ties both branches"):
        make_activation("arelu", start="authors", tie="split")
    with pytest.raises(ValueError, match="choose one of relu, authors"):
        make_activation("arelu", start="tf")


# --- AReLU's authors' start (issue 32): a = b = 1, c = d = 0 with TensorFlow's tie rule ------------

@pytest.mark.parametrize("impl", ["reference", "auto"])
def test_arelu_authors_start_is_the_identity_and_sends_tied_gradients_to_the_first_branch(impl):
    act = make_activation("arelu", impl=impl, start="authors")
    assert act.describe() == {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.0} and act.tie == "first"
    z = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    out = act(z)
    assert torch.equal(out, z)
    weights = torch.randn(z.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    assert torch.allclose(act.a.grad, (weights * z).sum()) and torch.allclose(act.c.grad, weights.sum())
    assert act.b.grad == 0 and act.d.grad == 0  # TensorFlow's max: nothing to the second branch at a tie
    assert torch.equal(z.grad, weights)


def _one_step_on_fashion_mnist(act: nn.Module) -> AReLU:
    from mixact_lib.data import load_dataset

    data = load_dataset("fmnist", train_subset=640, test_subset=10, download=False)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 5, stride=2), act, nn.Flatten(), nn.Linear(8 * 12 * 12, 10))
    x, y = data.train.x[:64], data.train.y[:64]
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)
    F.cross_entropy(net(x), y).backward()
    optimizer.step()
    return act


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").exists(),
                    reason="Fashion-MNIST not installed")
def test_one_sgd_step_on_fashion_mnist_separates_a_from_b_only_with_the_first_branch_tie():
    authors = _one_step_on_fashion_mnist(make_activation("arelu", start="authors"))
    assert abs(authors.a.item() - authors.b.item()) > 1e-6  # left the identity after one step
    assert authors.b.item() == 1.0 and authors.d.item() == 0.0  # the second branch got no gradient
    # control: the same tied start under PyTorch's split (fused kernel, the default path) stays tied
    split = make_activation("arelu")
    with torch.no_grad():
        split.b.fill_(1.0)
    split = _one_step_on_fashion_mnist(split)
    assert split.a.item() != 1.0  # it did move ...
    assert split.a.item() == split.b.item() and split.c.item() == split.d.item()  # ... but a and b together


def test_baseline_formulas_at_random_parameters():
    x = torch.linspace(-4, 4, 81)
    pelu = ref("pelu", a=2.0, b=0.5)
    expected = torch.where(x >= 0, (2.0 / 0.5) * x, 2.0 * (torch.exp(x / 0.5) - 1))
    assert torch.allclose(pelu(x), expected, atol=1e-5)
    assert pelu.describe() == pytest.approx({"a": 2.0, "b": 0.5}, rel=1e-5)
    sw = ref("swish_beta", beta=2.5)
    assert torch.allclose(sw(x), x * torch.sigmoid(2.5 * x))
    fr = ref("frelu", bias_init=-0.3)
    assert torch.allclose(fr(x), F.relu(x) - 0.3)
    pr = ref("prelu", init=0.1)
    assert torch.allclose(pr(x), torch.where(x >= 0, x, 0.1 * x))


def test_pelu_large_negative_inputs_do_not_overflow():
    m = ref("pelu", a=1.0, b=0.1)
    x = torch.tensor([-1000.0, 1000.0], requires_grad=True)
    y = m(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


@pytest.mark.parametrize("norm", NORMS)
def test_mixture_formula_and_weights(norm):
    torch.manual_seed(0)
    raw = [0.4, -1.2, 0.9]
    m = ref("mix", norm=norm, init=raw)
    w = torch.tensor(raw)
    expected_p = {
        "softmax": torch.softmax(w, 0),
        "abs": w.abs() / w.abs().sum(),
        "square": w**2 / (w**2).sum(),
        "none": w,
    }[norm]
    assert torch.allclose(m.weights(), expected_p)
    if norm != "none":
        assert m.weights().sum().item() == pytest.approx(1.0, abs=1e-6)
    x = torch.randn(5, 7)
    p = expected_p
    assert torch.allclose(m(x), p[0] * F.relu(x) + p[1] * torch.tanh(x) + p[2] * torch.sin(x), atol=1e-6)


@pytest.mark.parametrize("norm", ["softmax", "abs", "square"])
def test_mixture_starts_uniform(norm):
    assert torch.allclose(ref("mix", norm=norm).weights(), torch.full((3,), 1 / 3))


def test_adact_members_and_parameter_count():
    m = ref("adact")
    assert m.member_names == ("relu", "elu", "lrelu", "prelu", "rrelu", "silu", "mish") == ADACT_MEMBERS
    assert sum(p.numel() for p in m.parameters()) == 8  # 7 weights + PReLU slope (paper C §2)
    m.eval()
    x = torch.randn(4, 9)
    with torch.no_grad():
        m.w.copy_(torch.randn(7))
    p = torch.softmax(m.w.detach(), 0)
    slope = (1 / 8 + 1 / 3) / 2
    acts = [F.relu(x), F.elu(x), F.leaky_relu(x, 0.01), torch.where(x >= 0, x, 0.25 * x),
            F.leaky_relu(x, slope), F.silu(x), F.mish(x)]
    assert torch.allclose(m(x), sum(pi * a for pi, a in zip(p, acts)), atol=1e-6)


def test_per_channel_mixture():
    m = ref("mix", per_channel=True, num_channels=4)
    assert m.w.shape == (4, 3)
    with torch.no_grad():
        m.w[1] = torch.tensor([5.0, 0.0, 0.0])
    x = torch.randn(2, 4, 3, 3)
    y = m(x)
    p1 = torch.softmax(torch.tensor([5.0, 0.0, 0.0]), 0)
    ch1 = p1[0] * F.relu(x[:, 1]) + p1[1] * torch.tanh(x[:, 1]) + p1[2] * torch.sin(x[:, 1])
    assert torch.allclose(y[:, 1], ch1, atol=1e-6)
    with pytest.raises(ValueError, match="dim 1 must match"):
        m(torch.randn(2, 5, 3, 3))
    with pytest.raises(ValueError, match="num_channels"):
        make_activation("mix", per_channel=True)


def test_rrelu_train_and_eval():
    torch.manual_seed(0)
    m = make_activation("rrelu")
    x = -torch.ones(20000)
    m.train()
    slopes = m(x).neg()
    assert slopes.min() >= 1 / 8 - 1e-6 and slopes.max() <= 1 / 3 + 1e-6
    assert slopes.std() > 0.05  # random per element
    assert slopes.mean().item() == pytest.approx((1 / 8 + 1 / 3) / 2, abs=0.01)
    m.eval()
    assert torch.allclose(m(x), torch.full_like(x, -(1 / 8 + 1 / 3) / 2))
    pos = torch.rand(100)
    assert torch.equal(m.train()(pos), pos)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_activation("relux"), "Did you mean 'relu'"),
        (lambda: make_activation("mix", members=("relu", "nope")), "unknown activation 'nope'"),
        (lambda: make_activation("mix", norm="l1"), "choose one of softmax, abs, square, none"),
        (lambda: make_activation("mix", init=[1.0, 2.0]), "init has 2 weights but there are 3 members"),
        (lambda: make_activation("adact", init=[0.0] * 6), "init has 6 weights"),
        (lambda: make_activation("arelu", slope=1), "accepts: a, b, c, d"),
        (lambda: make_activation("relu", impl="quick"), "unknown impl"),
        (lambda: make_activation("pelu", a=-1.0), "a > 0"),
    ],
)
def test_errors_are_value_errors_that_say_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError) as err:
        make_activation("sigmod")
    text = str(err.value)
    assert "sigmoid" in text and "adact" in text and "Known activations" in text


def test_module_passes_through():
    m = nn.GELU()
    assert make_activation(m) is m


@pytest.mark.parametrize("name", LEARNABLE)
def test_state_dict_round_trip(name):
    a = ref(name)
    _perturb(a, seed=3)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = ref(name)
    b.load_state_dict(torch.load(buf))
    x = torch.randn(6, 5)
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))
    assert a.describe() == b.describe()


@pytest.mark.parametrize("name", ["adact", "arelu", "mix", "pelu"])
def test_survives_torch_compile(name):
    m = ref(name).eval()
    _perturb(m, seed=4)
    compiled = torch.compile(m, backend="aot_eager")
    x = torch.randn(8, 3, requires_grad=True)
    y = compiled(x)
    assert torch.allclose(y, m(x), atol=1e-6)
    y.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in m.parameters())


def test_describe_values():
    m = ref("mix", init=[2.0, 0.0, 0.0])
    d = m.describe()
    assert set(d["weights"]) == {"relu", "tanh", "sin"}
    assert d["weights"]["relu"] == pytest.approx(math.exp(2) / (math.exp(2) + 2), rel=1e-5)
    a = ref("adact").describe()
    assert a["prelu.slope"] == pytest.approx(0.25)
    assert ref("atanh", a=2.0).describe()["a"] == 2.0


def test_dominant_and_fixed_from():
    m = ref("adact", init=[0, 0, 0, 0, 0, 0, 3.0])
    assert dominant(m) == "mish"
    f = fixed_from(m)
    assert f.name == "mish" and not isinstance(f, Mix)
    m2 = ref("adact", init=[0, 0, 0, 4.0, 0, 0, 0])
    with torch.no_grad():
        m2.members["prelu"].weight.fill_(0.7)
    assert fixed_from(m2).describe()["slope"] == pytest.approx(0.25)  # fresh init by default
    assert fixed_from(m2, copy_params=True).describe()["slope"] == pytest.approx(0.7)


def test_freeze_replaces_mixtures_in_place():
    net = nn.Sequential(nn.Linear(3, 3), ref("mix", init=[0.0, 2.0, 0.0]), nn.Linear(3, 3), ref("adact"))
    chosen = freeze(net)
    assert chosen == {"1": "tanh", "3": "relu"}  # adact starts uniform: argmax picks the first member
    assert not any(isinstance(m, Mix) for m in net.modules())
    with pytest.raises(TypeError):
        freeze(ref("mix"))


def test_parameter_split_is_disjoint_and_complete():
    net = nn.Sequential(nn.Linear(3, 4), ref("adact"), nn.Linear(4, 2), ref("arelu"), nn.PReLU())
    act = activation_parameters(net)
    rest = network_parameters(net)
    assert sum(p.numel() for p in act) == 8 + 4 + 1
    ids_a, ids_n = {id(p) for p in act}, {id(p) for p in rest}
    assert not ids_a & ids_n
    assert ids_a | ids_n == {id(p) for p in net.parameters()}


def test_swap_activations_on_resnet18():
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.resnet18(num_classes=10)
    n_relu = sum(isinstance(m, nn.ReLU) for m in net.modules())
    replaced = swap_activations(net, "arelu")
    assert replaced == n_relu == 9  # stem + one shared module per BasicBlock
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())
    acts = activation_parameters(net)
    assert len(acts) == 4 * 9 and len({id(p) for p in acts}) == 4 * 9
    x = torch.randn(2, 3, 32, 32)
    net(x).sum().backward()
    assert all(p.grad is not None for p in acts)
    # independent: changing one site changes nothing in another
    sites = [m for m in net.modules() if isinstance(m, AReLU)]
    with torch.no_grad():
        sites[0].a.fill_(3.0)
    assert sites[1].a.item() == 1.0


def test_paper_b_authors_baseline_settings_build_the_authors_functions():
    from mixact_lib.runs.config import PAPER_B_AUTHORS_ACTIVATION_KWARGS as authors

    z = torch.tensor([-2.0, -0.5, 0.0, 1.5])
    assert torch.allclose(make_activation("lrelu", **authors["lrelu"])(z), torch.tensor([-0.4, -0.1, 0.0, 1.5]))
    assert torch.equal(make_activation("prelu", **authors["prelu"])(z), F.relu(z))  # slope 0: starts as ReLU
    assert torch.equal(make_activation("arelu", **authors["arelu"])(z), z)  # a = b = 1: starts as the identity
    # control: our defaults are not the authors'
    assert make_activation("lrelu")(z)[0].item() == pytest.approx(-0.02)
    assert make_activation("prelu")(z)[0].item() == pytest.approx(-0.5)
    assert torch.equal(make_activation("arelu")(z), F.relu(z))
