"""Training engine: phases, loop with checkpoints and resume, per-epoch metrics, results files."""
from .loop import TrainingDivergedError, TrainResult, train
from .metrics import (convergence_area, evaluate, traced_weights, weight_increments, weight_layers, weight_norms,
                      weight_trace)
from .phases import OPTIMIZERS, TRAINS, Phase, make_optimizer, parse_phases
from .records import read_json, summarize, write_json

__all__ = [
    "train", "TrainResult", "TrainingDivergedError", "Phase", "parse_phases", "make_optimizer",
    "OPTIMIZERS", "TRAINS", "evaluate", "convergence_area", "weight_increments", "weight_layers",
    "weight_norms", "traced_weights", "weight_trace", "summarize", "read_json", "write_json",
]
