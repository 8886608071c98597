"""Paper B's residual and dense CIFAR networks (paper B §5.1, Fig. 5).

Follows the figure and, where it is unreadable, the authors' TensorFlow code
(``ResNet_model.py``, ``Densenet_Cifar10.py``). Conventions of the CIFAR zoo
(width multiplier, TF keep-prob dropout, default init, adaptive pooling) are
described in :mod:`mixact_lib.models.alexnet_vgg`.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .common import check_counts, check_width, scaled
from .sites import ActivationSpec, SiteMaker


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4) residual block with the activation after the sum (He et al. 2016).

        act1(bn1(conv1 x)) → act2(bn2(conv2 ·)) → bn3(conv3 ·) + shortcut(x) → act3

    The stride sits on the first 1×1 convolution, as in He et al.'s original
    ResNet and the authors' code (torchvision's "v1.5" moves it to the 3×3).
    The shortcut is a 1×1 convolution + BN when the shape changes. 3 sites.
    """

    expansion = 4

    def __init__(self, in_channels: int, hidden: int, stride: int, make_site: SiteMaker):
        super().__init__()
        out = hidden * self.expansion
        self.conv1 = nn.Conv2d(in_channels, hidden, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.act1 = make_site(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.act2 = make_site(hidden)
        self.conv3 = nn.Conv2d(hidden, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        if stride != 1 or in_channels != out:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        else:
            self.shortcut = nn.Identity()
        self.act3 = make_site(out)

    def forward(self, x: Tensor) -> Tensor:
        h = self.act1(self.bn1(self.conv1(x)))
        h = self.act2(self.bn2(self.conv2(h)))
        return self.act3(self.bn3(self.conv3(h)) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-50 for 32×32 inputs, as in paper B Fig. 5.

        conv 7×7/2 ×64 → BN → act → maxpool 3/2
        → stages of bottlenecks (64, 128, 256, 512 → ×4 out), blocks (3, 4, 6, 3), strides 1, 2, 2, 2
        → global avg-pool → fc num_classes

    The ImageNet stem is kept, as in Fig. 5 and the code: a 32×32 image is 8×8
    after it and 1×1 after the last stage, where the figure's "avg_pool 7 × 7"
    is a global average pool. No dropout (the figure has none). Depth knob:
    ``blocks`` per stage ((1, 1, 1, 1) is a smoke model). Sites: 1 in the stem
    + 3 per bottleneck (49 for ResNet-50).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        activation: ActivationSpec = "relu",
        activation_kwargs: dict | None = None,
        activation_per_site: Sequence[ActivationSpec] | None = None,
        width: float = 1.0,
        blocks: Sequence[int] = (3, 4, 6, 3),
    ):
        super().__init__()
        width = check_width(width)
        blocks = check_counts("resnet blocks", blocks)
        make_site = SiteMaker(activation, activation_kwargs, activation_per_site, model="resnet")
        c64 = scaled(64, width)
        self.stem = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(in_channels, c64, 7, stride=2, padding=3, bias=False)),
            ("bn", nn.BatchNorm2d(c64)),
            ("act", make_site(c64)),
            ("pool", nn.MaxPool2d(3, stride=2, padding=1)),
        ]))
        previous = c64
        stages = []
        for s, count in enumerate(blocks):
            hidden = scaled(64 * 2 ** min(s, 3), width)
            units = []
            for j in range(count):
                stride = 2 if (s > 0 and j == 0) else 1
                units.append(Bottleneck(previous, hidden, stride, make_site))
                previous = hidden * Bottleneck.expansion
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.classifier = nn.Sequential(OrderedDict([
            ("avgpool", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(previous, num_classes)),
        ]))
        make_site.finish()

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.stages(self.stem(x)))


class DenseLayer(nn.Module):
    """BN → act → conv 1×1 (bottleneck) → dropout → BN → act → conv 3×3 (k) → dropout; output concatenated.

    2 sites. Paper B's note under Fig. 5 gives the bottleneck 2k channels; the
    authors' code uses 4k (Huang et al.'s value): ``bottleneck_factor``.
    """

    def __init__(self, in_channels: int, growth: int, bottleneck: int, dropout: float, make_site: SiteMaker):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.act1 = make_site(in_channels)
        self.conv1 = nn.Conv2d(in_channels, bottleneck, 1, bias=False)
        self.drop1 = nn.Dropout(dropout)
        self.bn2 = nn.BatchNorm2d(bottleneck)
        self.act2 = make_site(bottleneck)
        self.conv2 = nn.Conv2d(bottleneck, growth, 3, padding=1, bias=False)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop1(self.conv1(self.act1(self.bn1(x))))
        h = self.drop2(self.conv2(self.act2(self.bn2(h))))
        return torch.cat([x, h], dim=1)


def _transition(in_channels: int, out_channels: int, dropout: float, make_site: SiteMaker) -> nn.Sequential:
    """BN → act → conv 1×1 → dropout → avg-pool 2/2 (1 site)."""
    return nn.Sequential(OrderedDict([
        ("bn", nn.BatchNorm2d(in_channels)),
        ("act", make_site(in_channels)),
        ("conv", nn.Conv2d(in_channels, out_channels, 1, bias=False)),
        ("drop", nn.Dropout(dropout)),
        ("pool", nn.AvgPool2d(2, stride=2)),
    ]))


class DenseNet(nn.Module):
    """DenseNet-BC for 32×32 inputs with growth rate k = 24, as in paper B Fig. 5.

        conv 7×7/2 ×2k → [dense block → transition] × 3 → dense block → BN → act → global avg-pool → fc

    Dense blocks of (6, 12, 48, 32) layers (the note under Fig. 5 and the code;
    DenseNet-201's layout), each layer BN → act → conv 1×1 ×2k → dropout →
    BN → act → conv 3×3 ×k → dropout; transitions BN → act → conv 1×1 →
    dropout → avg-pool 2/2, halving the channels (the code's compression 0.5).
    "drop0.8" in the note is TF keep-prob 0.8: ``dropout=0.2`` (the code's
    ``rate=0.2``). No stem max-pool (the code comments it out). The
    figure's "GAP 7 × 7" is a global average pool.

    ``width`` scales the growth rate (k = round(24·width)); depth knob:
    ``blocks`` per dense block ((1, 1, 1, 1) is a smoke model). Sites: 2 per
    dense layer + 1 per transition + 1 before the pool (200 at paper scale).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        activation: ActivationSpec = "relu",
        activation_kwargs: dict | None = None,
        activation_per_site: Sequence[ActivationSpec] | None = None,
        width: float = 1.0,
        blocks: Sequence[int] = (6, 12, 48, 32),
        growth_rate: int = 24,
        bottleneck_factor: int = 2,
        compression: float = 0.5,
        dropout: float = 0.2,
    ):
        super().__init__()
        width = check_width(width)
        blocks = check_counts("densenet blocks", blocks)
        if not 0 < compression <= 1:
            raise ValueError(f"densenet compression must be in (0, 1], got {compression!r}")
        make_site = SiteMaker(activation, activation_kwargs, activation_per_site, model="densenet")
        k = scaled(growth_rate, width)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv0"] = nn.Conv2d(in_channels, 2 * k, 7, stride=2, padding=3, bias=False)
        previous = 2 * k
        for b, count in enumerate(blocks, start=1):
            dense = nn.Sequential()
            for _ in range(count):
                dense.append(DenseLayer(previous, k, bottleneck_factor * k, dropout, make_site))
                previous += k
            layers[f"dense{b}"] = dense
            if b < len(blocks):
                out = max(1, int(previous * compression))
                layers[f"transition{b}"] = _transition(previous, out, dropout, make_site)
                previous = out
        layers["bn"] = nn.BatchNorm2d(previous)
        layers["act"] = make_site(previous)
        self.features = nn.Sequential(layers)
        self.classifier = nn.Sequential(OrderedDict([
            ("avgpool", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(previous, num_classes)),
        ]))
        make_site.finish()

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


__all__ = ["Bottleneck", "DenseLayer", "DenseNet", "ResNet"]
