"""The networks of the three papers, behind one ``build_model``.

>>> from mixact_lib.models import build_model, available_models, count_parameters
>>> net = build_model("paper_c_convnet", num_classes=10, in_channels=1, activation="adact")
>>> count_parameters(net)["activation"]   # 4 AdAct sites × 8 (paper C §2)
32

- paper A §2: ``paper_a_net`` (2 conv + 2 FC, 3 sites)
- paper C appendix A.1: ``paper_c_convnet`` (4 conv blocks, 4 sites) and
  :func:`optimized_from` (ConvNet-Optimized)
- paper B Fig. 5: ``alexnet``, ``vgg``, ``googlenet``, ``resnet``, ``densenet``
"""
from .alexnet_vgg import VGG, AlexNet
from .googlenet import GoogLeNet
from .paper_nets import PaperANet, PaperCConvNet
from .registry import available_models, build_model, canonical_model_name, model_options
from .resnet_densenet import DenseNet, ResNet
from .sites import SiteMaker, count_parameters, list_sites, make_site, optimized_from, site_name

__all__ = [
    "build_model", "available_models", "canonical_model_name", "model_options",
    "count_parameters", "list_sites", "make_site", "optimized_from", "site_name", "SiteMaker",
    "PaperANet", "PaperCConvNet", "AlexNet", "VGG", "GoogLeNet", "ResNet", "DenseNet",
]
