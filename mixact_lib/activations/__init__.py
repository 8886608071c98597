"""Every activation of the three papers, behind one registry.

>>> from mixact_lib.activations import make_activation, available_activations
>>> act = make_activation("adact")       # paper C
>>> act = make_activation("mix", norm="abs")  # paper A, another reading of eq. 9
"""
from .fixed import Activation
from .learnable import ACONC, AReLU, ASigmoid, ATanh, FReLU, PELU, PReLU, SwishBeta
from .rational import PAU, KATRational, fit_error, fit_rational
from .mixture import ADACT_MEMBERS, NORMS, PAPER_A_MEMBERS, AdAct, Mix, normalise
from .registry import (
    activation_class,
    available_activations,
    canonical_name,
    has_fast,
    make_activation,
    registry_table,
    use_reference,
)
from . import fast_mix, fast_rational, fast_single  # noqa: F401  (importing them registers the fast classes)
from .fast_core import fast_backend, fast_path, set_fast_backend
from .surgery import (
    activation_parameters,
    activation_sites,
    describe_activations,
    dominant,
    fixed_from,
    freeze,
    network_parameters,
    swap_activations,
)

__all__ = [
    "Activation", "AReLU", "ASigmoid", "ATanh", "FReLU", "PELU", "PReLU", "SwishBeta", "ACONC", "PAU", "KATRational",
    "fit_rational", "fit_error", "registry_table",
    "Mix", "AdAct", "normalise", "NORMS", "PAPER_A_MEMBERS", "ADACT_MEMBERS",
    "make_activation", "available_activations", "activation_class", "canonical_name", "has_fast",
    "use_reference", "activation_parameters", "network_parameters", "activation_sites",
    "describe_activations", "dominant", "fixed_from", "freeze", "swap_activations",
]
