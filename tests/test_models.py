"""Tests for mixact_lib.models: shapes, activation sites, parameter counts, ConvNet-Optimized, errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mixact_lib.activations import ADACT_MEMBERS, AReLU, Mix, PReLU
from mixact_lib.models import (
    available_models,
    build_model,
    count_parameters,
    list_sites,
    optimized_from,
    site_name,
)

#: the smallest configuration of every model: CPU forward+backward of batch 8 in milliseconds
SMOKE = {
    "paper_a_net": {},
    "paper_c_convnet": {},
    "alexnet": {"width": 0.125},
    "vgg": {"width": 0.125, "depth": 11},
    "googlenet": {"width": 0.125, "inception_blocks": (1, 1, 1)},
    "resnet": {"width": 0.125, "blocks": (1, 1, 1, 1)},
    "densenet": {"width": 0.125, "blocks": (1, 1, 1, 1)},
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def smoke(name: str, in_channels: int = 3, size: int = 32, num_classes: int = 7, **kw) -> nn.Module:
    return build_model(name, num_classes, in_channels, image_size=size, **{**SMOKE[name], **kw})


def test_every_model_has_a_smoke_config():
    assert sorted(SMOKE) == available_models()


@pytest.mark.parametrize("name", sorted(SMOKE))
@pytest.mark.parametrize("in_channels,size", [(1, 28), (3, 32)])
def test_logits_shape_and_backward(name, in_channels, size):
    net = smoke(name, in_channels, size, activation="arelu")
    x = torch.randn(8, in_channels, size, size)
    logits = net(x)
    assert logits.shape == (8, 7)
    logits.logsumexp(1).mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_sites_are_independent_modules(name):
    net = smoke(name, activation="arelu")
    sites = list_sites(net)
    assert len(sites) >= 1
    modules = [m for _, m in sites]
    assert all(isinstance(m, AReLU) for m in modules)
    assert len({id(m) for m in modules}) == len(modules)
    params = [p for m in modules for p in m.parameters()]
    assert len({id(p) for p in params}) == len(params) == 4 * len(modules)
    with torch.no_grad():  # changing one site's parameter leaves every other site alone
        modules[0].a.fill_(3.0)
    assert all(float(m.a.detach()) == 1.0 for m in modules[1:])


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_sites_are_listed_in_forward_order(name):
    """list_sites order == the order the forward pass calls them == activation_per_site order."""
    net = smoke(name)
    calls: list[str] = []
    for path, module in list_sites(net):
        module.register_forward_hook(lambda m, i, o, path=path: calls.append(path))
    net(torch.randn(2, 3, 32, 32))
    assert calls == [path for path, _ in list_sites(net)]


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_activation_per_site_every_model(name):
    n = len(list_sites(smoke(name)))
    names = [("elu", "mish", "lrelu", "tanh")[i % 4] for i in range(n)]
    net = smoke(name, activation_per_site=names)
    assert [site_name(m) for _, m in list_sites(net)] == names
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_paper_a_net_has_three_sites():
    net = build_model("paper_a_net", 10, 1)
    assert [p for p, _ in list_sites(net)] == ["features.act1", "features.act2", "classifier.act3"]
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_paper_c_convnet_four_sites_and_fer_size():
    net = build_model("paper_c_convnet", 7, 1, image_size=48)  # FER: 48×48 grey, 7 expressions
    assert len(list_sites(net)) == 4
    assert net.classifier.fc.in_features == 256 * 3 * 3  # 48 → 24 → 12 → 6 → 3
    assert net(torch.randn(2, 1, 48, 48)).shape == (2, 7)
    assert build_model("paper_c_convnet", 10, 1).classifier.fc.in_features == 256  # 28 → 1
    with pytest.raises(ValueError, match=r"image_size=\(48, 48\)"):
        build_model("paper_c_convnet", 7, 1)(torch.randn(2, 1, 48, 48))  # built for the default 28×28


def test_paper_c_convnet_kaiming_uniform_bound():
    net = build_model("paper_c_convnet", 10, 3, image_size=32)
    conv = net.features.conv2
    bound = (6 / (conv.in_channels * 9)) ** 0.5  # gain √2, fan_in = 32·3·3
    w = conv.weight.abs().max().item()
    assert 0.9 * bound < w <= bound


def test_adact_adds_eight_parameters_per_site():
    relu = count_parameters(build_model("paper_c_convnet", 10, 1, activation="relu"))
    adact = count_parameters(build_model("paper_c_convnet", 10, 1, activation="adact"))
    assert relu["activation"] == 0
    assert adact["activation"] == 4 * 8  # paper C §2: N_AdAct = 8 n_AdAct
    assert adact["total"] - relu["total"] == 32
    assert adact["network"] == relu["network"] == relu["total"]


def _set_dominant(net: nn.Module, choice: list[str]) -> None:
    with torch.no_grad():
        for (_, mix), member in zip(list_sites(net), choice):
            mix.w.zero_()
            mix.w[..., ADACT_MEMBERS.index(member)] = 3.0


@pytest.mark.parametrize("per_channel", [False, True])
def test_optimized_from_picks_dominant_and_reinitialises(per_channel):
    kwargs = {"per_channel": True} if per_channel else None
    net = build_model("paper_c_convnet", 10, 3, activation="adact", activation_kwargs=kwargs, image_size=32)
    choice = ["lrelu", "elu", "mish", "prelu"]
    _set_dominant(net, choice)
    with torch.no_grad():
        list_sites(net)[3][1].members["prelu"].weight.fill_(0.9)  # trained slope; must not carry over
        net.features.bn1.running_mean.fill_(5.0)
    opt = optimized_from(net)
    assert list(opt.chosen_activations.values()) == choice
    assert list(opt.chosen_activations) == [f"features.act{i}" for i in range(1, 5)]
    assert not any(isinstance(m, Mix) for m in opt.modules())
    assert isinstance(opt.features.act4, PReLU) and float(opt.features.act4.weight.detach()) == 0.25
    assert not torch.equal(opt.features.conv1.weight, net.features.conv1.weight)  # trained from scratch
    assert float(opt.features.bn1.running_mean.abs().max()) == 0.0
    assert any(isinstance(m, Mix) for m in net.modules())  # the original is untouched
    assert count_parameters(opt)["activation"] == 1  # only PReLU's slope is left
    # rebuilt from the saved names alone, without the trained model: the same architecture
    rebuilt = build_model(**opt.build_config)
    assert [site_name(m) for _, m in list_sites(rebuilt)] == choice
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in opt.state_dict().items()}
    assert opt(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_optimized_from_needs_a_mixture():
    with pytest.raises(ValueError, match="mixture"):
        optimized_from(build_model("paper_c_convnet", 10, 1))


def test_activation_per_site_rebuilds_convnet_optimized():
    names = ["lrelu", "elu", "mish", "mish"]
    net = build_model("paper_c_convnet", 10, 1, activation_per_site=names)
    assert [site_name(m) for _, m in list_sites(net)] == names
    with pytest.raises(ValueError, match="has 4 activation sites but activation_per_site lists 3"):
        build_model("paper_c_convnet", 10, 1, activation_per_site=names[:3])
    with pytest.raises(ValueError, match="has 3 activation sites"):
        build_model("paper_a_net", 10, 1, activation_per_site=names)


def test_per_channel_mixture_inside_models():
    net = build_model("paper_c_convnet", 10, 1, activation="adact", activation_kwargs={"per_channel": True})
    shapes = [tuple(m.w.shape) for _, m in list_sites(net)]
    assert shapes == [(32, 7), (64, 7), (128, 7), (256, 7)]
    assert count_parameters(net)["activation"] == 7 * (32 + 64 + 128 + 256) + 4
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    net = build_model("paper_a_net", 10, 1, activation="mix", activation_kwargs={"per_channel": True, "norm": "abs"})
    assert tuple(net.classifier.act3.w.shape) == (128, 3)  # a fully connected site: channels = units
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    net = smoke("resnet", activation="prelu", activation_kwargs={"per_channel": True})
    assert tuple(net.stem.act.weight.shape) == (8,)  # per-channel PReLU slopes via num_parameters
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_activation_factories():
    net = build_model("paper_a_net", 10, 1, activation=AReLU)
    assert all(isinstance(m, AReLU) for _, m in list_sites(net))
    net = build_model("paper_a_net", 10, 1, activation=lambda: nn.PReLU())
    assert len(list_sites(net)) == 3
    with pytest.raises(ValueError, match="shared"):
        build_model("paper_a_net", 10, 1, activation=AReLU())


def test_unknown_model_and_arguments():
    with pytest.raises(ValueError, match=r"Did you mean 'resnet'.*Known models: alexnet"):
        build_model("resnt", 10, 3)
    with pytest.raises(ValueError, match=r"'vgg' got unknown argument\(s\) \['blocks'\].*depth=16"):
        build_model("vgg", 10, 3, blocks=(1, 1))
    with pytest.raises(ValueError, match="unknown activation"):
        build_model("paper_a_net", 10, 1, activation="relux")
    with pytest.raises(ValueError, match="depth must be one of"):
        build_model("vgg", 10, 3, depth=17)
    assert type(build_model("ResNet-50", 10, 3, **SMOKE["resnet"])).__name__ == "ResNet"


def test_vgg_conv_layers_indexable_for_paper_b_fig4():
    net = build_model("vgg", 100, 3, width=0.0625, hidden=(64, 64))
    convs = net.conv_layers()
    assert len(convs) == 13 and len(list_sites(net)) == 15
    assert convs[0] is net.features.conv1 and convs[4] is net.features.conv5 and convs[8] is net.features.conv9
    assert [convs[i].out_channels for i in (0, 4, 8)] == [4, 16, 32]  # 64, 256, 512 at width 1/16


def test_build_config_round_trip():
    net = build_model("densenet", 10, 1, activation="arelu", image_size=28, **SMOKE["densenet"])
    again = build_model(**net.build_config)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in net.state_dict().items()}
