"""mixact: learnable activation functions, three papers reproduced and compared."""
from .activations import available_activations, make_activation, swap_activations

__version__ = "0.1.0"
__all__ = ["make_activation", "available_activations", "swap_activations"]
