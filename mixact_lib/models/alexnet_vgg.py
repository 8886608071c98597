"""Paper B's plain (non-branching) CIFAR networks: AlexNet and VGG (paper B §5.1, Fig. 5).

Fig. 5 survived extraction as interleaved columns; where a cell is unreadable
or the figure disagrees with itself we follow the authors' TensorFlow 1.x code
(github.com/HuHaigen/Adaptively-Customizing-Activation-Functions,
``AlexNet_model.py``, ``VGG16_model.py``), and say so.

Conventions shared by the whole CIFAR zoo (here, ``googlenet.py`` and
``resnet_densenet.py``):

- every nonlinearity of the figure is an activation site built by the
  registry, one independent module each, registered in forward order;
- ``width`` multiplies every channel and hidden-unit count (1.0 = paper scale;
  0.125 is a CPU smoke model), and each model has a depth knob;
- dropout values in Fig. 5 are TensorFlow *keep* probabilities (the code feeds
  ``keep_prob: 0.9`` while training): "dropout 0.9" is ``nn.Dropout(p=0.1)``;
- weights keep PyTorch's default init (the paper states none; the code uses
  N(0, 0.01²) for AlexNet/VGG/GoogLeNet and Xavier for ResNet, and the
  BatchNorm layers make the difference small);
- the spatial map is pooled adaptively before the classifier, which is the
  identity (or the paper's own pooling) on 32×32 inputs and lets the same
  network take 28×28×1 images.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import Tensor, nn

from .common import check_width, scaled
from .sites import ActivationSpec, SiteMaker


def _classifier(
    in_features: int, hidden: Sequence[int], num_classes: int, make_site: SiteMaker, dropout: float,
    batch_norm: bool = False,
) -> nn.Sequential:
    """flatten → [fc_i → (BN) → act_i → dropout_i]* → fc_out, layers named fc1, act1, drop1, …"""
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    previous = in_features
    for i, units in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(previous, units)
        if batch_norm:
            layers[f"bn{i}"] = nn.BatchNorm1d(units)
        layers[f"act{i}"] = make_site(units)
        layers[f"drop{i}"] = nn.Dropout(dropout)
        previous = units
    layers[f"fc{len(hidden) + 1}"] = nn.Linear(previous, num_classes)
    return nn.Sequential(layers)


class AlexNet(nn.Module):
    """AlexNet for 32×32 inputs as in paper B Fig. 5 (and the authors' code).

        conv1 11×11/2 ×96 → act → LRN → maxpool 3/2
        conv2  5×5   ×256 → act → LRN → maxpool 3/2
        conv3  3×3   ×384 → act
        [conv4 3×3   ×384 → act]          only with num_conv=5
        conv5  3×3   ×256 → act → global max-pool
        fc1 2048 → act → dropout(0.1) → fc2 num_classes

    Choices: Fig. 5 and the code have four convolutions (the code comments
    that conv4 "has been removed"); ``num_conv=5`` restores Krizhevsky's
    conv4. The figure's last conv reads "5 × 5 × 256", the code's is 3×3: we
    use 3×3. Fig. 5 has one hidden layer of 2048 (``hidden=(2048,)``), the
    code two, (1024, 2048). Grouped convolutions (the code's ``groups=2``, a
    two-GPU memory trick) are not used. ``batch_norm=True`` normalises every
    pre-activation as the code does (BN inside its ``AdaptiveFunc``; the figure
    lists none); LRN follows the code's settings (TF depth_radius 5 → size 11,
    α = 1e-4 per element → PyTorch α = 11e-4, β = 0.75, k = 2), ``lrn=False``
    drops it. On a 32×32 input the last max-pool 3/2 sees a 3×3 map, so a
    global max-pool is the same operation and also serves 28×28 inputs.
    Activation sites: one per conv and one per hidden fc (5 by default).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        activation: ActivationSpec = "relu",
        activation_kwargs: dict | None = None,
        activation_per_site: Sequence[ActivationSpec] | None = None,
        width: float = 1.0,
        num_conv: int = 4,
        hidden: Sequence[int] = (2048,),
        dropout: float = 0.1,
        batch_norm: bool = True,
        lrn: bool = True,
    ):
        super().__init__()
        if num_conv not in (4, 5):
            raise ValueError(f"alexnet num_conv is 4 (paper B Fig. 5) or 5 (Krizhevsky 2012), got {num_conv!r}")
        width = check_width(width)
        make_site = SiteMaker(activation, activation_kwargs, activation_per_site, model="alexnet")
        # (index, kernel, stride, channels, pool after)
        plan = [(1, 11, 2, 96, True), (2, 5, 1, 256, True), (3, 3, 1, 384, False)]
        plan += [(4, 3, 1, 384, False)] if num_conv == 5 else []
        plan += [(5, 3, 1, 256, False)]
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        previous = in_channels
        for i, kernel, stride, channels, pool in plan:
            c = scaled(channels, width)
            layers[f"conv{i}"] = nn.Conv2d(previous, c, kernel, stride, padding=kernel // 2)
            if batch_norm:
                layers[f"bn{i}"] = nn.BatchNorm2d(c)
            layers[f"act{i}"] = make_site(c)
            if pool:
                if lrn:
                    layers[f"lrn{i}"] = nn.LocalResponseNorm(size=11, alpha=11e-4, beta=0.75, k=2.0)
                layers[f"pool{i}"] = nn.MaxPool2d(kernel_size=3, stride=2)
            previous = c
        layers["pool5"] = nn.AdaptiveMaxPool2d(1)
        self.features = nn.Sequential(layers)
        hidden = [scaled(h, width) for h in hidden]
        self.classifier = _classifier(previous, hidden, num_classes, make_site, dropout, batch_norm)
        make_site.finish()

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def conv_layers(self) -> list[nn.Conv2d]:
        return [m for m in self.features if isinstance(m, nn.Conv2d)]


#: convolutions per block for each VGG depth (Simonyan & Zisserman's configurations A, B, D, E)
VGG_DEPTHS: dict[int, tuple[int, ...]] = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
VGG_CHANNELS = (64, 128, 256, 512, 512)


class VGG(nn.Module):
    """VGG-16 with BatchNorm for 32×32 inputs, as in paper B Fig. 5 (and the authors' code).

        block 1: conv 3×3 ×64  → act,  conv ×64  → BN → act
        block 2: conv ×128 → act,        conv ×128 → BN → act
        block 3: 2 × (conv ×256 → act),  conv ×256 → BN → act → maxpool 2/2
        block 4: 2 × (conv ×512 → act),  conv ×512 → BN → act → maxpool 2/2
        block 5: 2 × (conv ×512 → act),  conv ×512 → BN → act → maxpool 2/2
        fc1 8192 → act → dropout(0.1) → fc2 7168 → act → dropout(0.1) → fc3 num_classes

    As in Fig. 5 and the code, blocks 1–2 do not pool and BatchNorm sits only
    on each block's last convolution, before its activation, so a 32×32 input
    leaves a 4×4×512 = 8192 map. Fig. 5 gives the hidden layers 8192 and 7168
    units (the code uses 8192 twice); we follow the figure, ``hidden`` changes
    it. An adaptive average pool to 4×4 (the identity on 32×32) lets 28×28
    inputs through. ``depth`` ∈ {11, 13, 16, 19} picks the convolutions per
    block (:data:`VGG_DEPTHS`); the pooling pattern stays.

    Paper B's Fig. 4 tracks weights of layers 1, 5 and 9: the convolutions are
    named ``features.conv1`` … ``features.conv13`` in forward order (sites
    ``features.act1`` …), and :meth:`conv_layers` returns them as a list.
    Activation sites: 13 convolutions + 2 hidden fc = 15 for depth 16.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        activation: ActivationSpec = "relu",
        activation_kwargs: dict | None = None,
        activation_per_site: Sequence[ActivationSpec] | None = None,
        width: float = 1.0,
        depth: int = 16,
        hidden: Sequence[int] = (8192, 7168),
        dropout: float = 0.1,
    ):
        super().__init__()
        if depth not in VGG_DEPTHS:
            raise ValueError(f"vgg depth must be one of {sorted(VGG_DEPTHS)}, got {depth!r}")
        width = check_width(width)
        make_site = SiteMaker(activation, activation_kwargs, activation_per_site, model="vgg")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        previous, index = in_channels, 0
        for block, (count, channels) in enumerate(zip(VGG_DEPTHS[depth], VGG_CHANNELS), start=1):
            c = scaled(channels, width)
            for j in range(count):
                index += 1
                layers[f"conv{index}"] = nn.Conv2d(previous, c, 3, padding=1)
                if j == count - 1:
                    layers[f"bn{index}"] = nn.BatchNorm2d(c)
                layers[f"act{index}"] = make_site(c)
                previous = c
            if block >= 3:
                layers[f"pool{block}"] = nn.MaxPool2d(2, 2)
        layers["avgpool"] = nn.AdaptiveAvgPool2d(4)
        self.features = nn.Sequential(layers)
        hidden = [scaled(h, width) for h in hidden]
        self.classifier = _classifier(previous * 16, hidden, num_classes, make_site, dropout)
        make_site.finish()

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))

    def conv_layers(self) -> list[nn.Conv2d]:
        """The convolutions in forward order: ``conv_layers()[0]`` is paper B's "1th layer"."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)]


__all__ = ["AlexNet", "VGG", "VGG_DEPTHS"]
