"""Paper B's GoogLeNet for CIFAR (paper B §5.1, Fig. 5; the authors' ``GoogLeNet_model.py``).

Conventions of the CIFAR zoo (width multiplier, TF keep-prob dropout, default
init, adaptive pooling) are described in :mod:`mixact_lib.models.alexnet_vgg`.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .common import ConvUnit, check_counts, check_width, scaled
from .sites import ActivationSpec, SiteMaker

#: Szegedy et al. 2015, Table 1 (= the authors' code): #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj
INCEPTION_STAGES: dict[str, tuple[tuple[int, ...], ...]] = {
    "3": ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),
    "4": (
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
    ),
    "5": ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),
}
MAX_INCEPTION_BLOCKS = tuple(len(v) for v in INCEPTION_STAGES.values())  # (2, 5, 2)


class Inception(nn.Module):
    """Four parallel branches concatenated on channels (Szegedy et al. 2015, Fig. 2b).

    branch1: 1×1 · branch2: 1×1 reduce → 3×3 · branch3: 1×1 reduce → 5×5 ·
    branch4: maxpool 3/1 → 1×1 projection. Every convolution is conv → BN →
    activation (6 sites), as in the authors' code.
    """

    def __init__(self, in_channels: int, config: Sequence[int], make_site: SiteMaker, batch_norm: bool = True):
        super().__init__()
        c1, r3, c3, r5, c5, cp = config
        self.branch1 = ConvUnit(in_channels, c1, 1, make_site, batch_norm=batch_norm)
        self.branch2 = nn.Sequential(
            ConvUnit(in_channels, r3, 1, make_site, batch_norm=batch_norm),
            ConvUnit(r3, c3, 3, make_site, batch_norm=batch_norm),
        )
        self.branch3 = nn.Sequential(
            ConvUnit(in_channels, r5, 1, make_site, batch_norm=batch_norm),
            ConvUnit(r5, c5, 5, make_site, batch_norm=batch_norm),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            ConvUnit(in_channels, cp, 1, make_site, batch_norm=batch_norm),
        )
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1) for 32×32 inputs, as in paper B Fig. 5.

        conv1 7×7/2 ×64 → maxpool 3/2 → conv2 3×3 ×192 → conv3 3×3 ×192 → maxpool 3/2
        → inception 3a, 3b → maxpool 3/2 → 4a … 4e → maxpool 3/2 → 5a, 5b
        → global avg-pool → dropout(0.1) → fc num_classes

    Fig. 5 and the code use two 3×3 ×192 stem convolutions (Szegedy's stem has
    1×1 ×64 then 3×3 ×192); we follow the figure. The figure lists no
    BatchNorm, the code normalises every pre-activation (BN inside its
    ``AdaptiveFunc``): ``batch_norm=True`` follows the code, ``False`` the
    figure. No auxiliary classifiers (neither figure nor code has them). On a
    32×32 input the map is 1×1 before the figure's "avg_pool 8 × 8", so a
    global average pool is the same; Fig. 5's "dropout 0.9" is keep-prob 0.9.

    Depth knob: ``inception_blocks=(2, 5, 2)`` modules in stages 3, 4, 5
    (the first n of each stage's table, :data:`INCEPTION_STAGES`); (1, 1, 1) is
    a smoke model. Sites: 3 in the stem + 6 per inception module (57 in all).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        activation: ActivationSpec = "relu",
        activation_kwargs: dict | None = None,
        activation_per_site: Sequence[ActivationSpec] | None = None,
        width: float = 1.0,
        inception_blocks: Sequence[int] = MAX_INCEPTION_BLOCKS,
        dropout: float = 0.1,
        batch_norm: bool = True,
    ):
        super().__init__()
        width = check_width(width)
        counts = check_counts("googlenet inception_blocks", inception_blocks, MAX_INCEPTION_BLOCKS)
        make_site = SiteMaker(activation, activation_kwargs, activation_per_site, model="googlenet")
        c64, c192 = scaled(64, width), scaled(192, width)
        self.stem = nn.Sequential(OrderedDict([
            ("conv1", ConvUnit(in_channels, c64, 7, make_site, stride=2, batch_norm=batch_norm)),
            ("pool1", nn.MaxPool2d(3, stride=2, padding=1)),
            ("conv2", ConvUnit(c64, c192, 3, make_site, batch_norm=batch_norm)),
            ("conv3", ConvUnit(c192, c192, 3, make_site, batch_norm=batch_norm)),
            ("pool2", nn.MaxPool2d(3, stride=2, padding=1)),
        ]))
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        previous = c192
        for s, (stage, count) in enumerate(zip(INCEPTION_STAGES, counts)):
            if s > 0:
                layers[f"pool{stage}"] = nn.MaxPool2d(3, stride=2, padding=1)
            for j, config in enumerate(INCEPTION_STAGES[stage][:count]):
                block = Inception(previous, [scaled(c, width) for c in config], make_site, batch_norm)
                layers[f"inception{stage}{'abcde'[j]}"] = block
                previous = block.out_channels
        self.inceptions = nn.Sequential(layers)
        self.classifier = nn.Sequential(OrderedDict([
            ("avgpool", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten()),
            ("drop", nn.Dropout(dropout)),
            ("fc", nn.Linear(previous, num_classes)),
        ]))
        make_site.finish()

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.inceptions(self.stem(x)))


__all__ = ["GoogLeNet", "Inception", "INCEPTION_STAGES"]
