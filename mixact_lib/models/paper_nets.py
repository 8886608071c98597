"""The small networks of papers A and C.

- :class:`PaperANet`: paper A §2, "two convolutional layers followed by two
  fully connected layers" with an activation between the layers: 3 sites.
- :class:`PaperCConvNet`: paper C appendix A.1, 4 × (conv → BatchNorm →
  activation → max-pool) → linear: 4 sites. ConvNet-AdAct, ConvNet-ReLU and
  ConvNet-Optimized are this one class with different activations.

Both name their layers ``features.conv1``, ``features.act1``, … and
``classifier.fc1``, …, and register the activation sites in forward order.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import Tensor, nn

from .common import as_size, halved
from .pooling import MaxPool2x2
from .sites import ActivationSpec, SiteMaker


def _check_features(model: str, h: Tensor, fc: nn.Linear, x: Tensor) -> None:
    # the classifier's size was fixed by image_size at build time; say so instead of a matmul shape error
    if h[0].numel() != fc.in_features:
        raise ValueError(
            f"{model} was built for another input size: {tuple(x.shape[-2:])} inputs give {h[0].numel()} features, "
            f"the classifier expects {fc.in_features}. Build it with image_size={tuple(x.shape[-2:])}."
        )


class PaperANet(nn.Module):
    """Paper A's 2-conv + 2-FC network with exactly 3 activation sites.

        conv1 → act1 → pool → conv2 → act2 → pool → flatten → fc1 → act3 → fc2

    Paper A gives no widths, kernels or pooling. We use the common PyTorch
    MNIST layout: 3×3 convolutions with padding 1 and ``channels=(32, 64)``,
    2×2 max-pool after each, ``hidden=128`` units in fc1, no dropout (the
    paper mentions none). The sites act1, act2, act3 are the paper's "LAYER 1,
    2, 3" of Table 1. The flattened size is computed from ``image_size``
    (28×28 → 7×7×64), so the net also takes 32×32×3 inputs.

    ``activation_per_site`` (three names) gives each site its own activation,
    overriding ``activation``.
    """

    num_sites = 3

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        activation: ActivationSpec = "relu",
        activation_kwargs: dict | None = None,
        activation_per_site: Sequence[ActivationSpec] | None = None,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        image_size: int | Sequence[int] = (28, 28),
    ):
        super().__init__()
        if len(channels) != 2 or min(channels) < 1 or hidden < 1:
            raise ValueError(f"paper_a_net needs two conv widths and hidden >= 1, got {channels!r}, {hidden!r}")
        make_site = SiteMaker(activation, activation_kwargs, activation_per_site, model="paper_a_net")
        c1, c2 = (int(c) for c in channels)
        h, w = halved(as_size(image_size), 2)
        if h < 1 or w < 1:
            raise ValueError(f"paper_a_net pools twice by 2: image_size must be at least 4×4, got {image_size!r}")
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, c1, 3, padding=1)),
            ("act1", make_site(c1)),
            ("pool1", MaxPool2x2()),
            ("conv2", nn.Conv2d(c1, c2, 3, padding=1)),
            ("act2", make_site(c2)),
            ("pool2", MaxPool2x2()),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(c2 * h * w, hidden)),
            ("act3", make_site(hidden)),
            ("fc2", nn.Linear(hidden, num_classes)),
        ]))
        make_site.finish()

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)
        _check_features("paper_a_net", h, self.classifier.fc1, x)
        return self.classifier(h)


class PaperCConvNet(nn.Module):
    """Paper C's ConvNet (appendix A.1) with exactly 4 activation sites.

        4 × [conv 3×3 (padding 1) → BatchNorm2d → activation → MaxPool2d(2, 2)] → flatten → linear

    The paper's channel table (its Table 2) was lost in extraction:
    ``channels=(32, 64, 128, 256)`` is our choice, not the paper's, a doubling
    per block as in most small ConvNets. Kernel 3×3 with padding 1 is also our
    reading. The final linear layer's input size follows from ``image_size``,
    as the paper says it "is directly dependent on … the dimensions of the
    feature maps": 28 → 14 → 7 → 3 → 1 (FMNIST), 32 → 2 (CIFAR-10, SVHN),
    48 → 3 (FER).

    Init: conv weights ``nn.init.kaiming_uniform_(w, nonlinearity="relu")``
    (He et al. 2015, as the paper states). That is exactly what PyTorch's
    ``kaiming_uniform_(w)`` gives with its default arguments (a = 0, gain √2),
    the most literal reading of "Kaiming uniform", and He's derivation is for
    the ReLU family that AdAct's members belong to. Biases, BatchNorm and the
    linear layer keep PyTorch's defaults (the paper says nothing of them).

    ``activation_per_site`` (four names) gives each block its own activation,
    overriding ``activation``: that is how a ConvNet-Optimized is rebuilt from
    the names saved in a results file, e.g. ``["lrelu", "elu", "mish", "mish"]``.
    """

    num_sites = 4

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        activation: ActivationSpec = "relu",
        activation_kwargs: dict | None = None,
        activation_per_site: Sequence[ActivationSpec] | None = None,
        channels: Sequence[int] = (32, 64, 128, 256),
        image_size: int | Sequence[int] = (28, 28),
    ):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) != 4 or min(channels) < 1:
            raise ValueError(f"paper_c_convnet has 4 conv blocks: channels needs 4 positive widths, got {channels!r}")
        size = as_size(image_size)
        h, w = halved(size, 4)
        if h < 1 or w < 1:
            raise ValueError(f"paper_c_convnet pools 4 times by 2: image_size must be at least 16×16, got {size}")
        make_site = SiteMaker(activation, activation_kwargs, activation_per_site, model="paper_c_convnet")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        previous = in_channels
        for i, c in enumerate(channels, start=1):
            layers[f"conv{i}"] = nn.Conv2d(previous, c, 3, padding=1)
            layers[f"bn{i}"] = nn.BatchNorm2d(c)
            layers[f"act{i}"] = make_site(c)
            layers[f"pool{i}"] = MaxPool2x2()  # nn.MaxPool2d(2, 2), bit for bit, on the native kernel on a CPU
            previous = c
        self.features = nn.Sequential(layers)
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(previous * h * w, num_classes)),
        ]))
        make_site.finish()
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming-uniform conv weights (paper C appendix A.1); ``optimized_from`` calls this again."""
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)
        _check_features("paper_c_convnet", h, self.classifier.fc, x)
        return self.classifier(h)

    def conv_layers(self) -> list[nn.Conv2d]:
        """conv1 … conv4 in forward order."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)]


__all__ = ["PaperANet", "PaperCConvNet"]
